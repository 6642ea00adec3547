// examples/pipeline/composing.cpp: grammar-masked sampling and network scoring.
// See composing.h.
#include "examples/pipeline/composing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "encode/grammar.h"
#include "lstm/sampler.h"

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
  if (part.steps.empty()) throw std::invalid_argument("prime melody has no notes");
  std::string line = encode::native_codec().encode(part);
  if (!line.empty() && line.back() == '>') line.pop_back();
  return line;
}

std::vector<Composition> compose(const lstm::Network& net, const Vocabulary& vocab,
                                 const ComposeOptions& o, ComposeStats* stats) {
  if (o.count < 1) throw std::invalid_argument("count must be >= 1");
  if (o.length < 4) throw std::invalid_argument("length must be >= 4 symbols");
  if (net.config().vocab != vocab.size())
    throw std::invalid_argument("network has " + std::to_string(net.config().vocab) +
                                " symbols but the vocabulary has " + std::to_string(vocab.size()));
  std::string prime = o.prime.empty() ? std::string("<") : o.prime;
  if (prime.front() != '<') prime.insert(prime.begin(), '<');
  const std::vector<std::int32_t> prime_ids = vocab.ids(prime);
  NativeGrammar prime_grammar;
  if (o.constrained) {
    for (std::size_t i = 0; i < prime_ids.size(); ++i) {
      const int g = vocab.grammar_index(prime_ids[i]);
      if (!prime_grammar.allows(g) || (prime_grammar.state() == State::done))
        throw std::invalid_argument("prime \"" + prime +
                                    "\" breaks the melody grammar at position " +
                                    std::to_string(i) + " ('" + prime[i] + "')");
      prime_grammar.advance(g);
    }
    if (prime_grammar.complete())
      throw std::invalid_argument("prime \"" + prime + "\" is a complete melody (ends with '>')");
    if (distance_to_done(prime_grammar.state()) > o.length)
      throw std::invalid_argument("length " + std::to_string(o.length) +
                                  " is too short to finish the primed melody");
  }

  const int n = o.count;
  const int V = vocab.size();
  std::vector<NativeGrammar> grammar(static_cast<std::size_t>(n), prime_grammar);
  std::vector<bool> done(static_cast<std::size_t>(n), false);
  std::vector<std::string> text(static_cast<std::size_t>(n), prime);
  std::vector<int> grammar_of(static_cast<std::size_t>(V));
  for (int v = 0; v < V; ++v) grammar_of[static_cast<std::size_t>(v)] = vocab.grammar_index(v);

  lstm::Sampler sampler(net, {.temperature = o.temperature, .top_k = o.top_k, .seed = o.seed});
  lstm::State state = net.zero_state(n);
  std::vector<float> logits(static_cast<std::size_t>(n) * V);
  std::vector<std::int32_t> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  for (auto id : prime_ids) {
    std::fill(in.begin(), in.end(), id);
    net.step(in, state, logits);
  }
  std::size_t masked = 0, generated = 0;
  int step = 0;
  const lstm::MaskHook hook = [&](int i, int t, std::span<float> z,
                                  std::span<std::uint8_t> allowed) {
    const auto k = static_cast<std::size_t>(i);
    if (done[k]) return;  // output ignored
    const int remaining = o.length - t;
    bool any = false;
    for (int v = 0; v < V; ++v) {
      State next{};
      const bool ok = NativeGrammar::transition(grammar[k].state(),
                                                grammar_of[static_cast<std::size_t>(v)], &next) &&
                      distance_to_done(next) <= remaining - 1;
      allowed[static_cast<std::size_t>(v)] = ok ? 1 : 0;
      any |= ok;
    }
    if (!any)  // cannot happen with a data vocabulary; never leave nothing allowed
      for (int v = 0; v < V; ++v)
        allowed[static_cast<std::size_t>(v)] =
            grammar[k].allows(grammar_of[static_cast<std::size_t>(v)]) ? 1 : 0;
    const auto top = static_cast<std::size_t>(std::max_element(z.begin(), z.end()) - z.begin());
    if (!allowed[top]) ++masked;
  };
  for (step = 0; step < o.length; ++step) {
    sampler.draw(logits, n, step, out, o.constrained ? hook : lstm::MaskHook{});
    bool all_done = true;
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (done[k]) continue;
      const int sym = out[k];
      text[k].push_back(vocab.symbol(sym));
      ++generated;
      if (o.constrained) grammar[k].advance(grammar_of[static_cast<std::size_t>(sym)]);
      if (sym == vocab.end_id()) done[k] = true;
      all_done &= done[k];
    }
    if (all_done) break;
    net.step(out, state, logits);
  }

  std::vector<Composition> result(static_cast<std::size_t>(n));
  ComposeStats s;
  s.melodies = static_cast<std::size_t>(n);
  s.symbols = generated;
  s.masked = masked;
  for (int i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    Composition& c = result[k];
    c.text = std::move(text[k]);
    c.finished = done[k];
    c.decoded = encode::native_codec().decode(c.text);
    s.skipped += c.decoded.skipped;
    if (c.decoded.melody.steps.empty())
      ++s.empty;
    else if (c.decoded.skipped == 0)
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
    throw std::invalid_argument("network has " + std::to_string(net.config().vocab) +
                                " symbols but the vocabulary has " + std::to_string(vocab.size()));
  std::vector<std::vector<std::int32_t>> seqs;
  seqs.reserve(melodies.size());
  for (const auto& m : melodies) {
    seqs.push_back(vocab.ids(m.text));
    score.notes += m.notes;
  }
  score.melodies = melodies.size();
  std::vector<std::size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return seqs[a].size() < seqs[b].size(); });
  const int V = vocab.size();
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
          if (pos + 1 >= s.size()) continue;
          const float* z = logits.data() + (static_cast<std::size_t>(t) * B + b) * V;
          double mx = z[0];
          for (int v = 1; v < V; ++v) mx = std::max<double>(mx, z[v]);
          double sum = 0;
          for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
          const double nats = std::log(sum) + mx - static_cast<double>(z[s[pos + 1]]);
          score.bits += nats / std::log(2.0);
          ++score.symbols;
        }
    }
  }
  return score;
}

}  // namespace melodl::pipeline
