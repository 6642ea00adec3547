// tests/dist/data_parallel_test.cpp: pipeline/data_parallel.h without MPI: how a minibatch is
// shared among ranks, and the one-process behaviour of the agreeing helpers.
#include <gtest/gtest.h>

#include <vector>

#include "pipeline/data_parallel.h"
#include "tests/lstm/lstm_test_util.h"

namespace pl = melodl::pipeline;

using melodl::lstm::test::ClaimRank;

TEST(DataParallel, RankSharesTileTheMinibatchInRankOrder) {
  for (int N = 1; N <= 5; ++N)
    for (std::size_t first : {0u, 7u})
      for (std::size_t n = 0; n <= 11; ++n) {
        std::size_t next = first;
        for (int r = 0; r < N; ++r) {
          const ClaimRank c(r, N);
          const auto [b, e] = pl::rank_share(first, first + n, &c);
          EXPECT_EQ(b, next) << "N " << N << " rank " << r << " n " << n;
          EXPECT_LE(e - b, n / N + 1);
          EXPECT_GE(e - b, n / N);
          next = e;
        }
        EXPECT_EQ(next, first + n);
      }
  EXPECT_EQ(pl::rank_share(3, 9, nullptr), (std::pair<std::size_t, std::size_t>{3, 9}));
}

TEST(DataParallel, OneProcessDecidesAlone) {
  EXPECT_TRUE(pl::writes_run_files(nullptr));
  const ClaimRank rank1(1, 2), rank0(0, 2);
  EXPECT_FALSE(pl::writes_run_files(&rank1));
  EXPECT_TRUE(pl::writes_run_files(&rank0));
  EXPECT_FALSE(pl::on_all_ranks(nullptr, false));
  EXPECT_TRUE(pl::on_all_ranks(nullptr, true));
  const pl::StopDecision d = pl::agree_on_stop(nullptr, true, false);
  EXPECT_TRUE(d.stop);
  EXPECT_FALSE(d.out_of_time);
  EXPECT_EQ(pl::from_rank0(nullptr, 0.5), 0.5);
}
