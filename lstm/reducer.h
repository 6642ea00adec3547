// lstm/reducer.h: the data-parallel hook of lstm::Trainer (docs/distributed.md). Several
// processes (ranks) each hold a replica of the network and train on their own part of every
// minibatch; before each optimiser update the trainer hands its gradient and loss counts to a
// GradientReducer, which sums them over the ranks, so every rank applies the same update to
// the same weights. The library defines only this interface and knows nothing of MPI: the
// MPI implementation is dist::MpiReducer (dist/mpi_reducer.h); a GPU one (NCCL) would
// implement the same three calls on device buffers.
//
// Example:
//   dist::MpiReducer mpi;                // MPI_Init; rank(), ranks()
//   lstm::Trainer trainer(network, config);
//   trainer.set_reducer(&mpi);           // apply_update now sums over the ranks first
//   trainer.broadcast_from_root();       // identical weights and optimiser state everywhere
#pragma once

#include <span>

namespace melodl::lstm {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;   // this process, 0 .. ranks()-1
  virtual int ranks() const = 0;  // processes in the job
  // Replaces `values` on every rank by their elementwise sum over all ranks, added in rank
  // order ((v0 + v1) + v2 ...), so every rank gets the same bits and a run repeats exactly
  // for a given rank count. Every rank calls it with the same size, in the same order.
  virtual void sum(std::span<float> values) = 0;
  virtual void sum(std::span<double> values) = 0;
  // Rank `root`'s values to every rank (the same size everywhere).
  virtual void broadcast(std::span<float> values, int root) = 0;
};

}  // namespace melodl::lstm
