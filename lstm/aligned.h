// lstm/aligned.h: a 64-byte aligned allocator and the float buffer type used for parameters,
// states and workspaces. Alignment matters for reproducibility, not only speed: vectorised
// reductions and matrix-vector products peel leading elements up to an aligned address, so
// the summation order (and the float result) would depend on where malloc put a buffer.
// With every buffer 64-byte aligned, the same inputs give bitwise the same results.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace melodl::lstm {

template <class T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlignment = 64;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kAlignment}));
  }
  void deallocate(T* p, std::size_t) noexcept {
    ::operator delete (p, std::align_val_t{kAlignment});
  }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

// Contiguous float storage, 64-byte aligned.
using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

}  // namespace melodl::lstm
