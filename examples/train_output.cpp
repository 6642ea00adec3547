// examples/train_output.cpp: see train_output.h.
#include "examples/train_output.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "pipeline/repair_report.h"

namespace melodl::cli {

pipeline::InputEvents extraction_events(bool quiet) {
  // A bar per extraction (the inputs, then a --valid folder); made before the workers start.
  // Recovered and skipped files are listed one per line up to kListed each, then counted, so
  // a corpus of many thousands of files does not bury the progress under warnings.
  constexpr std::size_t kListed = 20;
  struct State {
    std::unique_ptr<Progress> bar;
    std::atomic<std::size_t> recovered{0}, skipped{0};
  };
  auto st = std::make_shared<State>();
  pipeline::InputEvents events;
  events.extracting = [st, quiet](std::size_t files) {
    st->bar = std::make_unique<Progress>("extract", std::max<std::size_t>(1, files), quiet);
  };
  events.file_done = [st](std::size_t done, const std::string& s) { st->bar->update(done, s); };
  events.extracted = [st] { st->bar->finish(); };
  events.reported = [st, quiet] {
    const std::size_t r = st->recovered.exchange(0), k = st->skipped.exchange(0);
    if (!quiet && (r > kListed || k > kListed))
      std::fprintf(stderr,
                   "melodl: %zu files recovered and %zu skipped in all (%zu of each listed)\n", r,
                   k, kListed);
  };
  events.recovered = [st, quiet](const std::string& source, const melodl::midi::Repairs& repairs) {
    if (quiet || st->recovered.fetch_add(1) >= kListed) return;
    std::fprintf(stderr, "melodl: recovered %s: %zu repairs (%s; --strict skips it)\n",
                 source.c_str(), repairs.total, pipeline::repair_counts_text(repairs).c_str());
  };
  events.skipped = [st, quiet](const std::string& source, const std::string& error) {
    if (quiet || st->skipped.fetch_add(1) >= kListed) return;
    std::fprintf(stderr, "melodl: skipping %s: %s\n", source.c_str(), error.c_str());
  };
  return events;
}

std::string format_seconds(double s) {
  if (s < 0) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

TrainProgress::TrainProgress(bool quiet) : quiet_(quiet), tty_(Progress::stderr_is_terminal()) {}

void TrainProgress::update(const pipeline::ProgressInfo& p) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto gap = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  if (drawn_ && now - last_ < gap) return;
  last_ = now;
  drawn_ = true;
  constexpr int kWidth = 20;
  const int filled = static_cast<int>(kWidth * p.fraction);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  const std::string epoch = p.epochs > 0 ? std::to_string(p.epoch) + "/" + std::to_string(p.epochs)
                                         : std::to_string(p.epoch);
  char line[256];
  std::snprintf(line, sizeof line,
                "train [%s] %3d%% epoch %s batch %zu/%zu  %.3f bits/sym  %.0f sym/s  %s  ETA %s",
                bar.c_str(), static_cast<int>(100 * p.fraction), epoch.c_str(), p.batch, p.batches,
                p.bits_per_symbol, p.symbols_per_s, format_seconds(p.elapsed_s).c_str(),
                format_seconds(p.eta_s).c_str());
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", line);
  else
    std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

void TrainProgress::clear() {
  if (tty_ && drawn_ && !quiet_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

namespace {

// "dropout 0.2 (variational), weight decay 0.01, lr schedule cosine (...), patience 5": the
// issue-15 options that are on ("" when none is).
std::string regularisation_summary(const pipeline::TrainSettings& s) {
  const lstm::TrainConfig& t = s.train;
  std::string out;
  char buf[160];
  const auto add = [&](const char* text) { out += (out.empty() ? "" : ", ") + std::string(text); };
  if (t.dropout.output > 0) {
    std::snprintf(buf, sizeof buf, "dropout %g%s", t.dropout.output,
                  t.dropout.variational ? " (variational)" : "");
    add(buf);
  }
  if (t.dropout.recurrent > 0) {
    std::snprintf(buf, sizeof buf, "recurrent dropout %g", t.dropout.recurrent);
    add(buf);
  }
  if (t.optimizer.weight_decay > 0) {
    std::snprintf(buf, sizeof buf, "weight decay %g", t.optimizer.weight_decay);
    add(buf);
  }
  if (t.optimizer.average > 0) {
    std::snprintf(buf, sizeof buf, "weight averaging %g", t.optimizer.average);
    add(buf);
  }
  if (t.schedule.active()) {
    const auto& c = t.schedule;
    std::snprintf(buf, sizeof buf, "lr schedule %s, warm-up %lld", lstm::to_string(c.kind).c_str(),
                  static_cast<long long>(c.warmup_steps));
    add(buf);
    if (c.kind == lstm::LrScheduleKind::cosine)
      std::snprintf(buf, sizeof buf, "%lld updates down to %g",
                    static_cast<long long>(c.decay_steps), c.min_lr);
    else if (c.kind == lstm::LrScheduleKind::plateau)
      std::snprintf(buf, sizeof buf, "x %g after %d validations without improvement, >= %g",
                    c.factor, c.patience, c.min_lr);
    if (c.kind != lstm::LrScheduleKind::constant) add(buf);
  }
  if (s.patience > 0) {
    std::snprintf(buf, sizeof buf, "patience %d", s.patience);
    add(buf);
  }
  return out;
}

}  // namespace

void print_run_header(const pipeline::TrainSession& session) {
  const auto& cs = session.corpus_stats();
  const auto& split = session.split();
  const auto& run = session.training();
  const auto& settings = session.config().settings;
  const auto& st = run.state();
  const char* lines_word =
      session.config().kind == pipeline::LineKind::harmony ? "harmonies" : "melodies";
  std::printf("melodl train: %s %s\n", session.resuming() ? "resuming" : "run",
              session.run_dir().c_str());
  std::printf(
      "  data: %zu %s from %zu files; train %zu (%zu symbols), valid %zu (%zu symbols, %zu "
      "files)\n",
      cs.melodies, lines_word, cs.sources, split.train.size(), pipeline::symbol_count(split.train),
      split.valid.size(), pipeline::symbol_count(split.valid), split.valid_sources.size());
  const auto& net = run.network().config();
  std::printf(
      "  model: %d x %d LSTM, vocabulary %d, %zu parameters; %s lr %g, TBPTT %d/%d, batch %d, "
      "window %d, %zu windows = %zu batches/epoch, %s, %d threads\n",
      net.layers, net.hidden, net.vocab, run.network().num_params(),
      lstm::to_string(settings.train.optimizer.kind).c_str(), st.lr, settings.train.tbptt_fwd,
      settings.train.tbptt_bwd, settings.batch, settings.window, run.windows(),
      run.batches_per_epoch(), lstm::to_string(run.network().device()).c_str(),
      run.network().execution().resolved_threads());
  if (const auto& vocab = run.vocabulary(); !vocab.styles().empty())
    std::printf("  styles: %s (compose --style NAME)\n", vocab.style_list().c_str());
  if (!session.resuming() && !session.config().init_from.empty())
    std::printf("  initialised from %s (fine-tuning: its network and vocabulary)\n",
                session.config().init_from.c_str());
  if (const std::string reg = regularisation_summary(settings); !reg.empty())
    std::printf("  regularisation: %s\n", reg.c_str());
  if (session.resuming())
    std::printf("  continuing at epoch %d, batch %zu (%s trained so far)\n", st.epoch + 1,
                st.next_batch, format_seconds(st.elapsed_s).c_str());
  if (session.resuming() && st.best_epoch > 0)
    std::printf("  best so far: epoch %d, valid %.3f bits/note (%d validations since)\n",
                st.best_epoch, st.best_bits_per_note, st.validations_since_best);
  std::fflush(stdout);
}

void print_epoch(const pipeline::TrainSession& session, const pipeline::EpochMetrics& m,
                 bool samples_written) {
  std::printf("epoch %d%s: train %.3f bits/symbol", m.epoch, m.partial ? " (partial)" : "",
              m.train_bits_per_symbol);
  if (m.valid_bits_per_symbol > 0)
    std::printf(", valid %.3f bits/symbol %.3f bits/note", m.valid_bits_per_symbol,
                m.valid_bits_per_note);
  std::printf(" [%s, %lld steps]", format_seconds(m.seconds).c_str(),
              static_cast<long long>(m.steps));
  if (samples_written) std::printf(" -> %s/", session.samples_dir(m.epoch).c_str());
  std::printf("\n");
  std::fflush(stdout);
}

void print_novelty(const pipeline::SessionResult& result) {
  if (const auto& h = result.harmony_novelty)
    std::printf(
        "novelty of epoch %d's %zu harmonies (%zu steps) vs the training set: longest exact copy "
        "of both voices %zu steps (%.1f s), the copy with the most note onsets %zu onsets in %zu "
        "steps; of the lower voice alone %zu notes, of the upper %zu notes\n",
        h->epoch, h->samples, h->steps, h->longest_exact_copy_steps,
        0.0625 * static_cast<double>(h->longest_exact_copy_steps), h->most_onsets_in_a_copy,
        h->most_onsets_copy_steps, h->lower_longest_exact_copy_notes,
        h->upper_longest_exact_copy_notes);
  if (const auto& m = result.melody_novelty) {
    std::printf(
        "novelty of epoch %d's %zu samples (%zu notes) vs the training set: longest exact copy "
        "%zu notes; note n-grams also in the corpus:",
        m->epoch, m->samples, m->notes, m->longest_exact_copy_notes);
    for (const auto& o : m->overlap)
      std::printf(
          " %d-grams %.0f%%", o.n,
          o.total ? 100.0 * static_cast<double>(o.found) / static_cast<double>(o.total) : 0.0);
    std::printf("\n");
  }
}

void print_done(const pipeline::TrainSession& session) {
  const auto& st = session.training().state();
  const char* dir = session.run_dir().c_str();
  std::printf(
      "melodl train: done in %s; checkpoint %s\n  samples: %s/samples/epoch-*/ (MIDI%s), all "
      "melodies: %s/composition.txt, manifest: %s/manifest.json\n"
      "  compose more: melodl compose %s --count 8 -o out --wav\n",
      format_seconds(st.elapsed_s).c_str(), session.training().latest_checkpoint().c_str(), dir,
      session.renders_wav() ? " + WAV" : "", dir, dir, dir);
  if (st.best_epoch > 0) {
    const std::filesystem::path best = session.training().best_checkpoint();
    std::printf("  best: epoch %d of %zu, valid %.3f bits/note%s%s%s\n", st.best_epoch,
                st.history.size(), st.best_bits_per_note, best.empty() ? "" : ", checkpoint ",
                best.c_str(), best.empty() ? "" : " (compose and eval use it)");
  }
  if (st.stopped_early)
    std::printf("  stopped early: no new best in the last %d validations (--patience)\n",
                st.validations_since_best);
  if (st.skipped_steps || st.reloads)
    std::printf("  %zu updates skipped for non-finite values, %zu reloads\n", st.skipped_steps,
                st.reloads);
}

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0}, g_signals{0};

extern "C" void on_stop_signal(int sig) {
  g_signal.store(sig);
  g_signals.fetch_add(1);
  g_stop.store(true);
}

}  // namespace

StopSignals::StopSignals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::atomic<bool>& StopSignals::stop_flag() { return g_stop; }
bool StopSignals::abandon_write() { return g_signals.load() >= 2; }
const char* StopSignals::cause() { return g_signal.load() == SIGTERM ? "SIGTERM" : "SIGINT"; }

void StopSignals::restore() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

void print_stopped(const pipeline::TrainSession& session, pipeline::RunEnd end,
                   const std::string& cause) {
  const std::string latest = session.training().latest_checkpoint().string();
  const std::string run_dir = session.run_dir().string();
  if (end == pipeline::RunEnd::interrupted) {
    std::printf(
        "melodl train: stopped by %s; checkpoint %s written. Continue with: melodl train "
        "--resume %s\n",
        cause.c_str(), latest.c_str(), run_dir.c_str());
  } else if (latest.empty()) {
    std::printf(
        "melodl train: stopped by %s again during the first checkpoint's write, which "
        "was abandoned: %s holds no checkpoint; start the run anew\n",
        cause.c_str(), run_dir.c_str());
  } else {
    std::printf(
        "melodl train: stopped by %s again during a checkpoint write, which was "
        "abandoned; checkpoint %s kept. Continue with: melodl train --resume %s\n",
        cause.c_str(), latest.c_str(), run_dir.c_str());
  }
  std::fflush(stdout);
}

}  // namespace melodl::cli
