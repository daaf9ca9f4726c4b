// How many threads HybridSeq's CPU kernels use. The policy is split into pure functions of a snapshot of the
// process and the machine (so that the tests can drive it with any machine they like: an affinity mask of one CPU,
// a cgroup quota, a busy core) and the readers of that snapshot (cpu_threads.cpp: sched_getaffinity, the cgroup's
// cpu.max, /proc/loadavg).
//
// Why a policy at all: HybridSeq's recurrence kernels meet at a barrier once per time step. On a machine where
// another process keeps a core busy, a team as large as the CPU count means one of our threads is descheduled at
// almost every step, and every other thread waits for it (spinning, then sleeping) for a scheduler time slice: the
// GRU forward at B16 T1024 H256 went from 143 ms to 4,067 ms on 2 cores beside one busy process. Those kernels
// therefore size their team per call from the cores that are free right now (step_thread_count).
//
// Settings, strongest first:
//   hs_set_num_threads(n) / HYBRIDSEQ_NUM_THREADS=n   exactly n threads for every kernel, no adaptation
//   OMP_NUM_THREADS=n                                  at most n threads (used as given, even above the CPU count)
//   (neither)                                          omp_get_max_threads(), capped by the CPUs of the affinity
//                                                      mask and by the cgroup CPU quota
//   HYBRIDSEQ_ADAPTIVE_THREADS=0                       the barrier-per-step kernels use that full count on every
//                                                      call (the behaviour before this policy) instead
//                                                      of the free cores
#pragma once

#include <algorithm>

namespace hs::cpu {

// What the policy needs to know about the process; 0 means "unknown" or "none" for the counts.
struct ThreadEnvironment {
    int openmp_max_threads = 1;   // omp_get_max_threads() of the calling thread
    bool openmp_user_set = false; // OMP_NUM_THREADS is set: its value is the user's choice, not libgomp's guess
    int explicit_threads = 0;     // hs_set_num_threads / HYBRIDSEQ_NUM_THREADS; 0 = automatic
    int affinity_cpus = 0;        // CPUs in the calling thread's affinity mask
    int quota_cpus = 0;           // cgroup CPU quota in whole CPUs, rounded up
    bool adaptive = true;         // HYBRIDSEQ_ADAPTIVE_THREADS is not 0
};

// A snapshot of how busy the machine is, taken once per call of a barrier-per-step kernel.
struct LoadSample {
    int online_cpus = 0;       // CPUs the kernel schedules on (sysconf(_SC_NPROCESSORS_ONLN))
    int running_threads = 0;   // runnable threads on the machine, this process's included (/proc/loadavg)
    int running_own = 0;       // runnable threads of this process (the caller, our spinning pool, libtorch's)
};

// The team size of the kernels whose threads rarely wait for each other (the GEMM, the scan, the dR reduction).
inline int base_thread_count(const ThreadEnvironment& env) {
    if (env.explicit_threads > 0) return env.explicit_threads;
    int threads = std::max(1, env.openmp_max_threads);
    if (env.openmp_user_set) return threads;
    if (env.affinity_cpus > 0) threads = std::min(threads, env.affinity_cpus);
    if (env.quota_cpus > 0) threads = std::min(threads, env.quota_cpus);
    return threads;
}

// Cores no other process is using right now: the machine's CPUs minus the runnable threads that are not ours.
// Our own runnable threads do not count against us: the caller is one of the team, and pool threads still spinning
// from the previous parallel region are the very threads the team will use.
inline int free_cpus(const LoadSample& load) {
    const int others = std::max(0, load.running_threads - load.running_own);
    return std::max(1, load.online_cpus - others);
}

// Whether step_thread_count needs a load sample at all (reading /proc costs microseconds; skip it when nothing can
// change the answer).
inline bool wants_load_sample(const ThreadEnvironment& env, int base) {
    return env.adaptive && env.explicit_threads <= 0 && base > 1;
}

// The team size of a barrier-per-step kernel (the recurrence forward and backward): the base count, lowered to the
// free cores when other processes use some of them, so that no team member waits for a core at every step.
inline int step_thread_count(const ThreadEnvironment& env, const LoadSample& load) {
    const int base = base_thread_count(env);
    if (!wants_load_sample(env, base) || load.online_cpus <= 0) return base;
    return std::clamp(free_cpus(load), 1, base);
}

// ---------------------------------------------------------------------------------------------------------------
// The live policy (cpu_threads.cpp). Both throw hs::Error (HS_ERR_INVALID_ARGUMENT) when HYBRIDSEQ_NUM_THREADS or
// HYBRIDSEQ_ADAPTIVE_THREADS holds something other than what they accept, naming the variable and the value.
// ---------------------------------------------------------------------------------------------------------------

// The environment of the calling thread now.
ThreadEnvironment current_thread_environment();
// base_thread_count of the calling thread now.
int kernel_threads();
// step_thread_count of the calling thread now; samples the load only when it can change the answer.
int step_kernel_threads();
// hs_set_num_threads: n >= 1 fixes the count, 0 returns to the environment's (HYBRIDSEQ_NUM_THREADS or automatic).
void set_explicit_threads(int threads);

}  // namespace hs::cpu
