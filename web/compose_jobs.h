// web/compose_jobs.h (internal to `melodl serve`, web/compose_server.cpp): the bounded work
// pool that composes and renders, and the store of generated files that expire.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "midi/model.h"

namespace melodl::web::detail {

// `workers` threads take jobs from a queue of at most `capacity` waiting jobs. try_submit
// never blocks: it returns false when the queue is full (the caller answers 429).
class WorkPool {
 public:
  WorkPool(int workers, int capacity);
  ~WorkPool();  // stop()
  // Drops the jobs still waiting (their futures see a broken promise), lets the running ones
  // finish and joins the workers; try_submit refuses from then on. Idempotent.
  void stop();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  bool try_submit(std::function<void()> job);
  // Seconds a new job would wait, estimated from the recent jobs' times (at least 1).
  int retry_after_s() const;

 private:
  void work();
  const int workers_, capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  double mean_job_s_ = 0.1;
  bool stopping_ = false;
};

// One request's generated pieces: its folder (files piece-NN.mid, piece-NN.wav) and songs.
struct StoredResult {
  std::string id;  // 32 hex digits, the folder's name
  std::filesystem::path dir;
  std::vector<midi::Song> songs;  // piece k is songs[k], written as piece-(k+1).mid
  std::chrono::steady_clock::time_point created;
  std::mutex wav_mu;  // one render of a piece's WAV at a time
};

// Folders of generated files under `root` (created; deleted with the store when `owned`).
// add() writes a result's MIDI files and deletes the results older than `ttl` and the
// oldest beyond `max_results`; find() gives a live result by id.
class ResultStore {
 public:
  ResultStore(std::filesystem::path root, bool owned, std::chrono::seconds ttl,
              std::size_t max_results);
  ~ResultStore();
  std::shared_ptr<StoredResult> add(std::vector<midi::Song> songs);
  std::shared_ptr<StoredResult> find(const std::string& id);
  const std::filesystem::path& root() const { return root_; }
  static std::string file_name(std::size_t piece, const char* ext);  // "piece-01.mid"

 private:
  void expire_locked();
  std::filesystem::path root_;
  bool owned_;
  std::chrono::seconds ttl_;
  std::size_t max_results_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<StoredResult>> results_;
  std::deque<std::string> order_;  // oldest first
};

// A new folder under the system's temp folder for one server's files.
std::filesystem::path make_temp_folder();

}  // namespace melodl::web::detail
