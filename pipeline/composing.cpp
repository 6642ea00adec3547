// pipeline/composing.cpp: grammar-masked sampling (melodies, harmonies, an
// accompaniment under a given upper voice) and network scoring.
// See composing.h.
#include "pipeline/composing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "base/error.h"
#include "encode/grammar.h"
#include "lstm/sampler.h"
#include "pipeline/training.h"

namespace melodl::pipeline {

namespace {

using encode::NativeGrammar;
using State = NativeGrammar::State;

// Fewest symbols that take the automaton from `s` to done.
int distance_to_done(State s) {
  switch (s) {
    case State::start:
      return 3;  // '<' duration '>'
    case State::first_duration:
      return 2;  // duration '>'
    case State::after_note:
      return 1;  // '>'
    case State::rest_duration:
      return 4;  // duration interval duration '>'
    case State::after_rest:
      return 3;  // interval duration '>'
    case State::note_duration:
      return 2;  // duration '>'
    case State::done:
      return 0;
  }
  return 0;
}

// The grammars behind constrained sampling, in one shape: allows(g), after(g) = fewest
// symbols to a complete line after taking g (-1 if g is not allowed), advance(g),
// to_complete(). g is the kind's native grammar index.
struct MelodyRules {
  NativeGrammar g;
  bool allows(int s) const { return g.allows(s); }
  int after(int s) const {
    State next{};
    return NativeGrammar::transition(g.state(), s, &next) ? distance_to_done(next) : -1;
  }
  void advance(int s) { g.advance(s); }
  int to_complete() const { return distance_to_done(g.state()); }
  bool complete() const { return g.complete(); }
};

struct HarmonyRules {
  encode::HarmonyGrammar g;
  bool allows(int s) const { return g.allows(s); }
  int after(int s) const {
    if (!g.allows(s)) return -1;
    encode::HarmonyGrammar next = g;
    next.advance(s);
    return next.symbols_to_complete();
  }
  void advance(int s) { g.advance(s); }
  int to_complete() const { return g.symbols_to_complete(); }
  bool complete() const { return g.complete(); }
};

// Every allowed symbol of the accompaniment grammar takes exactly one step along a path of
// fixed length ('<', 2 symbols per upper step, '>').
struct AccompanyRules {
  encode::AccompanyGrammar g;
  bool allows(int s) const { return g.allows(s); }
  int after(int s) const { return g.allows(s) ? to_complete() - 1 : -1; }
  void advance(int s) { g.advance(s); }
  int to_complete() const {
    if (g.complete()) return 0;
    const std::size_t left = 2 * g.steps() - g.grammar().position() + 1;
    return static_cast<int>(left) + (g.grammar().started() ? 0 : 1);
  }
  bool complete() const { return g.complete(); }
};

// The sampling loop shared by the three grammars: `count` streams from one prime, masked by
// the rules when constrained (each stream keeps a copy of `prime_rules`).
template <class Rules>
std::vector<std::string> sample_lines(const lstm::Network& net, const Vocabulary& vocab,
                                      const ComposeOptions& o, const std::string& prime,
                                      const Rules& prime_rules, std::vector<bool>& done,
                                      ComposeStats& s) {
  const int n = o.count;
  const int V = vocab.size();
  const auto N = static_cast<std::size_t>(n);
  std::vector<Rules> rules(N, prime_rules);
  done.assign(N, false);
  std::vector<std::string> text(N, prime);
  std::vector<int> grammar_of(static_cast<std::size_t>(V));
  for (int v = 0; v < V; ++v) grammar_of[static_cast<std::size_t>(v)] = vocab.grammar_index(v);

  lstm::Sampler sampler(net, {.temperature = o.temperature, .top_k = o.top_k, .seed = o.seed});
  lstm::State state = net.zero_state(n);
  std::vector<float> logits(N * static_cast<std::size_t>(V));
  std::vector<std::int32_t> in(N), out(N);
  for (auto id : vocab.ids(prime, o.style)) {  // the style symbol (if any) after '<'
    std::fill(in.begin(), in.end(), id);
    net.step(in, state, logits);
  }
  std::size_t masked = 0, generated = 0;
  const lstm::MaskHook hook = [&](int i, int t, std::span<float> z,
                                  std::span<std::uint8_t> allowed) {
    const auto k = static_cast<std::size_t>(i);
    if (done[k]) return;   // output ignored
    if (!o.constrained) {  // a styled model: style symbols are never drawn
      for (int v = 0; v < V; ++v) allowed[static_cast<std::size_t>(v)] = !vocab.is_style(v);
      return;
    }
    const int remaining = o.length - t;
    bool any = false;
    for (int v = 0; v < V; ++v) {
      if (vocab.is_style(v)) {
        allowed[static_cast<std::size_t>(v)] = 0;
        continue;
      }
      const int after = rules[k].after(grammar_of[static_cast<std::size_t>(v)]);
      const bool ok = after >= 0 && after <= remaining - 1;
      allowed[static_cast<std::size_t>(v)] = ok ? 1 : 0;
      any |= ok;
    }
    if (!any)  // cannot happen with a data vocabulary; never leave nothing allowed
      for (int v = 0; v < V; ++v)
        allowed[static_cast<std::size_t>(v)] =
            !vocab.is_style(v) && rules[k].allows(grammar_of[static_cast<std::size_t>(v)]) ? 1 : 0;
    const auto top = static_cast<std::size_t>(std::max_element(z.begin(), z.end()) - z.begin());
    if (!allowed[top]) ++masked;
  };
  for (int step = 0; step < o.length; ++step) {
    const bool mask = o.constrained || !vocab.styles().empty();
    sampler.draw(logits, n, step, out, mask ? hook : lstm::MaskHook{});
    bool all_done = true;
    for (std::size_t k = 0; k < N; ++k) {
      if (done[k]) continue;
      const int sym = out[k];
      text[k].push_back(vocab.symbol(sym));
      ++generated;
      if (o.constrained) rules[k].advance(grammar_of[static_cast<std::size_t>(sym)]);
      if (sym == vocab.end_id()) done[k] = true;
      all_done &= done[k];
    }
    if (all_done) break;
    net.step(out, state, logits);
  }
  s.symbols = generated;
  s.masked = masked;
  return text;
}

// Checks a prime against the rules (constrained mode) and returns them advanced over it.
template <class Rules>
Rules primed_rules(Rules rules, const Vocabulary& vocab, const std::string& prime, int length,
                   const char* what) {
  const std::vector<std::int32_t> ids = vocab.ids(prime);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const int g = vocab.grammar_index(ids[i]);
    if (rules.complete() || !rules.allows(g))
      throw InvalidArgument("prime \"" + prime + "\" breaks the " + what + " grammar at position " +
                            std::to_string(i) + " ('" + prime[i] + "')");
    rules.advance(g);
  }
  if (rules.complete())
    throw InvalidArgument("prime \"" + prime + "\" is a complete line (ends with '>')");
  if (rules.to_complete() > length)
    throw InvalidArgument("length " + std::to_string(length) + " is too short to finish " +
                          (ids.size() > 1 ? "the primed line" : "a line") + " (needs " +
                          std::to_string(rules.to_complete()) + " symbols)");
  return rules;
}

}  // namespace

std::string prime_from_melody(const encode::SymbolMelody& melody, std::size_t notes) {
  encode::SymbolMelody part;
  std::size_t n = 0;
  for (const auto& s : melody.steps) {
    if (!s.rest && n == notes) break;
    part.steps.push_back(s);
    if (!s.rest) ++n;
  }
  while (!part.steps.empty() && part.steps.back().rest) part.steps.pop_back();
  if (part.steps.empty()) throw InvalidArgument("prime melody has no notes");
  std::string line = encode::native_codec().encode(part);
  if (!line.empty() && line.back() == '>') line.pop_back();
  return line;
}

std::string prime_from_harmony(const encode::SymbolHarmony& harmony, std::size_t steps) {
  encode::SymbolHarmony part;
  const std::size_t n = std::min(steps, harmony.steps());
  part.lower.assign(harmony.lower.begin(), harmony.lower.begin() + static_cast<long>(n));
  part.upper.assign(harmony.upper.begin(), harmony.upper.begin() + static_cast<long>(n));
  if (n == 0) throw InvalidArgument("prime harmony has no steps");
  std::string line = encode::native_harmony_codec().encode(part);
  if (!line.empty() && line.back() == '>') line.pop_back();
  return line;
}

LoadedModel load_model(const std::filesystem::path& where,
                       const std::function<void(const std::string&)>& passed_over,
                       CheckpointChoice choice) {
  LoadedModel m;
  std::vector<std::string> skipped;
  try {
    m.path = resolve_checkpoint(where, &skipped, choice);
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
  if (passed_over)
    for (const auto& s : skipped) passed_over(s);
  try {
    m.checkpoint = lstm::load_checkpoint(m.path);
  } catch (const std::exception& e) {
    throw FormatError(m.path.string() + ": cannot load checkpoint: " + e.what());
  }
  try {
    m.vocab = Vocabulary::parse(m.checkpoint.vocabulary);
  } catch (const std::exception& e) {
    throw FormatError(m.path.string() + ": not a melodl melody model (vocabulary: " + e.what() +
                      ")");
  }
  if (m.checkpoint.network_config.vocab != m.vocab.size())
    throw FormatError(
        m.path.string() + ": network has " + std::to_string(m.checkpoint.network_config.vocab) +
        " outputs but its vocabulary has " + std::to_string(m.vocab.size()) + " symbols");
  return m;
}

std::vector<Composition> compose(const lstm::Network& net, const Vocabulary& vocab,
                                 const ComposeOptions& o, ComposeStats* stats) {
  if (o.count < 1) throw InvalidArgument("count must be >= 1");
  if (o.length < 4) throw InvalidArgument("length must be >= 4 symbols");
  if (net.config().vocab != vocab.size())
    throw InvalidArgument("network has " + std::to_string(net.config().vocab) +
                          " symbols but the vocabulary has " + std::to_string(vocab.size()));
  const bool harmony = vocab.kind() == LineKind::harmony;
  if (!o.accompany.empty()) {
    if (!harmony)
      throw InvalidArgument("accompanying a melody needs a harmony model (this one models " +
                            std::string(to_string(vocab.kind())) + "s)");
    if (!o.constrained) throw InvalidArgument("accompanying needs constrained sampling");
    if (!o.prime.empty()) throw InvalidArgument("accompanying takes no prime");
  }
  std::string prime = o.prime.empty() ? std::string("<") : o.prime;
  if (prime.front() != '<') prime.insert(prime.begin(), '<');
  vocab.check_style(o.style);
  (void)vocab.ids(prime, o.style);  // throws naming a symbol the vocabulary lacks

  ComposeStats s;
  std::vector<bool> done;
  std::vector<std::string> text;
  if (!o.accompany.empty()) {
    for (int sym : encode::native_voice_symbols(o.accompany))
      if (vocab.id_of_grammar_index(sym) < 0)
        throw InvalidArgument(
            std::string("the melody to accompany uses symbol '") +
            encode::native_harmony::symbol_char(sym) +
            "', which the model's vocabulary lacks (a pitch or hold it never saw)");
    AccompanyRules rules{encode::AccompanyGrammar(o.accompany)};
    rules = primed_rules(rules, vocab, prime, o.length, "accompaniment");
    text = sample_lines(net, vocab, o, prime, rules, done, s);
  } else if (harmony) {
    HarmonyRules rules;
    if (o.constrained) rules = primed_rules(rules, vocab, prime, o.length, "harmony");
    text = sample_lines(net, vocab, o, prime, rules, done, s);
  } else {
    MelodyRules rules;
    if (o.constrained) rules = primed_rules(rules, vocab, prime, o.length, "melody");
    text = sample_lines(net, vocab, o, prime, rules, done, s);
  }

  const auto n = static_cast<std::size_t>(o.count);
  std::vector<Composition> result(n);
  s.melodies = n;
  for (std::size_t k = 0; k < n; ++k) {
    Composition& c = result[k];
    c.text = std::move(text[k]);
    c.finished = done[k];
    bool has_note = false, damaged = false;
    if (harmony) {
      c.harmony = encode::native_harmony_codec().decode(c.text);
      s.skipped += c.harmony.skipped + c.harmony.substituted;
      damaged = c.harmony.skipped + c.harmony.substituted > 0;
      for (const auto* v : {&c.harmony.harmony.lower, &c.harmony.harmony.upper})
        has_note |= std::any_of(v->begin(), v->end(), [](const auto& x) { return x.onset; });
    } else {
      c.decoded = encode::native_codec().decode(c.text);
      s.skipped += c.decoded.skipped;
      damaged = c.decoded.skipped > 0;
      has_note = !c.decoded.melody.steps.empty();
    }
    if (!has_note)
      ++s.empty;
    else if (!damaged)
      ++s.clean;
  }
  if (stats) *stats = s;
  return result;
}

ModelScore score_network(const lstm::Network& net, const Vocabulary& vocab,
                         const std::vector<CorpusMelody>& melodies, int batch) {
  ModelScore score;
  if (melodies.empty()) return score;
  if (net.config().vocab != vocab.size())
    throw InvalidArgument("network has " + std::to_string(net.config().vocab) +
                          " symbols but the vocabulary has " + std::to_string(vocab.size()));
  std::vector<std::vector<std::int32_t>> seqs;
  seqs.reserve(melodies.size());
  for (const auto& m : melodies) {
    seqs.push_back(vocab.ids(m.text, m.style));
    score.notes += m.notes;
  }
  score.melodies = melodies.size();
  std::vector<std::size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return seqs[a].size() < seqs[b].size(); });
  const int V = vocab.size();
  const int C = static_cast<int>(vocab.chars().size());  // V less the style symbols
  constexpr int kChunk = 64;
  std::vector<std::int32_t> in;
  std::vector<float> logits;
  for (std::size_t g = 0; g < order.size(); g += static_cast<std::size_t>(batch)) {
    const std::size_t ge = std::min(order.size(), g + static_cast<std::size_t>(batch));
    const int B = static_cast<int>(ge - g);
    std::size_t T = 0;
    for (std::size_t j = g; j < ge; ++j) T = std::max(T, seqs[order[j]].size() - 1);
    lstm::State state = net.zero_state(B);
    for (std::size_t t0 = 0; t0 < T; t0 += kChunk) {
      const int Tc = static_cast<int>(std::min<std::size_t>(kChunk, T - t0));
      in.assign(static_cast<std::size_t>(Tc) * B, 0);
      logits.resize(static_cast<std::size_t>(Tc) * B * V);
      for (int t = 0; t < Tc; ++t)
        for (int b = 0; b < B; ++b) {
          const auto& s = seqs[order[g + static_cast<std::size_t>(b)]];
          const std::size_t pos = t0 + static_cast<std::size_t>(t);
          in[static_cast<std::size_t>(t) * B + b] = pos + 1 < s.size() ? s[pos] : 0;
        }
      net.run(in, Tc, state, logits);
      for (int t = 0; t < Tc; ++t)
        for (int b = 0; b < B; ++b) {
          const auto& s = seqs[order[g + static_cast<std::size_t>(b)]];
          const std::size_t pos = t0 + static_cast<std::size_t>(t);
          if (pos + 1 >= s.size() || vocab.is_style(s[pos + 1])) continue;  // a given style
          const float* z = logits.data() + (static_cast<std::size_t>(t) * B + b) * V;
          double mx = z[0];  // over the symbols C: style symbols are never drawn
          for (int v = 1; v < C; ++v) mx = std::max<double>(mx, z[v]);
          double sum = 0;
          for (int v = 0; v < C; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
          const double nats = std::log(sum) + mx - static_cast<double>(z[s[pos + 1]]);
          score.bits += nats / std::log(2.0);
          ++score.symbols;
        }
    }
  }
  return score;
}

}  // namespace melodl::pipeline
