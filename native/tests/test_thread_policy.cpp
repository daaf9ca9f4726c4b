// The CPU thread policy: the pure rules of common/cpu_threads.h on made-up machines, and the live entry points
// hs_set_num_threads / hs_get_num_threads on this process (affinity mask of one CPU, explicit setting, bad input).
// Nothing here measures time: every expectation follows from the inputs.
#include <gtest/gtest.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../src/common/cpu_threads.h"
#include "hybridseq.h"

namespace {

using hs::cpu::base_thread_count;
using hs::cpu::LoadSample;
using hs::cpu::step_thread_count;
using hs::cpu::ThreadEnvironment;

// An 8-CPU machine where nobody set anything: libgomp's count is the CPU count.
ThreadEnvironment idle_eight_cpus() {
    ThreadEnvironment env;
    env.openmp_max_threads = 8;
    env.affinity_cpus = 8;
    return env;
}

LoadSample load(int online, int running, int own) {
    LoadSample sample;
    sample.online_cpus = online;
    sample.running_threads = running;
    sample.running_own = own;
    return sample;
}

TEST(ThreadPolicy, AffinityMaskOfOneCpuGivesOneThread) {
    ThreadEnvironment env = idle_eight_cpus();
    env.affinity_cpus = 1;
    EXPECT_EQ(base_thread_count(env), 1);
    EXPECT_EQ(step_thread_count(env, load(8, 1, 1)), 1);
}

TEST(ThreadPolicy, CgroupQuotaCapsTheCount) {
    ThreadEnvironment env = idle_eight_cpus();
    env.quota_cpus = 3;
    EXPECT_EQ(base_thread_count(env), 3);
    env.affinity_cpus = 2;
    EXPECT_EQ(base_thread_count(env), 2);
}

TEST(ThreadPolicy, ExplicitSettingWinsOverEverything) {
    ThreadEnvironment env = idle_eight_cpus();
    env.affinity_cpus = 1;
    env.quota_cpus = 1;
    env.openmp_user_set = true;
    env.openmp_max_threads = 2;
    env.explicit_threads = 6;
    EXPECT_EQ(base_thread_count(env), 6);
    // ... and is not adapted to the load: the user asked for exactly this many.
    EXPECT_EQ(step_thread_count(env, load(8, 20, 1)), 6);
}

TEST(ThreadPolicy, OmpNumThreadsIsTakenAsGivenEvenAboveTheCpus) {
    ThreadEnvironment env = idle_eight_cpus();
    env.affinity_cpus = 2;
    env.quota_cpus = 2;
    env.openmp_max_threads = 4;
    env.openmp_user_set = true;
    EXPECT_EQ(base_thread_count(env), 4);
    // Without the user's word the same libgomp count is capped by the mask and the quota.
    env.openmp_user_set = false;
    EXPECT_EQ(base_thread_count(env), 2);
}

TEST(ThreadPolicy, AdaptationOffGivesTheOpenMpCount) {
    ThreadEnvironment env = idle_eight_cpus();
    env.adaptive = false;
    // Seven other processes running on eight CPUs: the full team anyway, as before the policy existed.
    EXPECT_EQ(step_thread_count(env, load(8, 8, 1)), env.openmp_max_threads);
    EXPECT_EQ(base_thread_count(env), env.openmp_max_threads);
}

TEST(ThreadPolicy, IdleMachineKeepsTheFullTeam) {
    const ThreadEnvironment env = idle_eight_cpus();
    EXPECT_EQ(step_thread_count(env, load(8, 1, 1)), 8);
    // Our own pool still spinning from the previous region is not someone else's load.
    EXPECT_EQ(step_thread_count(env, load(8, 8, 8)), 8);
}

TEST(ThreadPolicy, BusyCoresAreLeftOut) {
    ThreadEnvironment env;
    env.openmp_max_threads = 2;
    env.affinity_cpus = 2;
    // 2 CPUs, the caller plus one other process running: one free core, one thread.
    EXPECT_EQ(step_thread_count(env, load(2, 2, 1)), 1);
    // 8 CPUs, 3 of them busy elsewhere: 5 free.
    EXPECT_EQ(step_thread_count(idle_eight_cpus(), load(8, 4, 1)), 5);
    // The team never drops below one thread, however loaded the machine.
    EXPECT_EQ(step_thread_count(idle_eight_cpus(), load(8, 50, 2)), 1);
    // Kernels that rarely wait keep the base count.
    EXPECT_EQ(base_thread_count(idle_eight_cpus()), 8);
}

TEST(ThreadPolicy, FreeCoresNeverRaiseTheTeamAboveTheBase) {
    ThreadEnvironment env = idle_eight_cpus();
    env.affinity_cpus = 3;
    EXPECT_EQ(step_thread_count(env, load(64, 1, 1)), 3);
}

TEST(ThreadPolicy, UnknownLoadKeepsTheBase) {
    EXPECT_EQ(step_thread_count(idle_eight_cpus(), LoadSample{}), 8);
}

// ---------------------------------------------------------------------------------------------------------------
// The live entry points
// ---------------------------------------------------------------------------------------------------------------

bool thread_count_set_in_environment() {
    for (const char* name : {"OMP_NUM_THREADS", "HYBRIDSEQ_NUM_THREADS"}) {
        const char* value = std::getenv(name);
        if (value != nullptr && value[0] != '\0') return true;
    }
    return false;
}

// Restores the explicit setting to automatic when a test ends, whatever it asserted.
struct AutomaticThreadsAtExit {
    ~AutomaticThreadsAtExit() { EXPECT_EQ(hs_set_num_threads(0), HS_OK) << hs_last_error(); }
};

TEST(ThreadPolicyLive, ExplicitCountIsReportedAndZeroReturnsToAutomatic) {
    AutomaticThreadsAtExit restore;
    int32_t automatic = -1;
    ASSERT_EQ(hs_get_num_threads(&automatic), HS_OK) << hs_last_error();
    EXPECT_GE(automatic, 1);
    ASSERT_EQ(hs_set_num_threads(1), HS_OK) << hs_last_error();
    int32_t threads = -1;
    ASSERT_EQ(hs_get_num_threads(&threads), HS_OK) << hs_last_error();
    EXPECT_EQ(threads, 1);
    // More threads than CPUs is the user's choice to make.
    ASSERT_EQ(hs_set_num_threads(37), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_get_num_threads(&threads), HS_OK) << hs_last_error();
    EXPECT_EQ(threads, 37);
    ASSERT_EQ(hs_set_num_threads(0), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_get_num_threads(&threads), HS_OK) << hs_last_error();
    EXPECT_EQ(threads, automatic);
}

TEST(ThreadPolicyLive, BadArgumentsAreRejectedWithTheirName) {
    AutomaticThreadsAtExit restore;
    EXPECT_EQ(hs_set_num_threads(-1), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'threads'"), std::string::npos) << hs_last_error();
    EXPECT_NE(std::string(hs_last_error()).find("got -1"), std::string::npos) << hs_last_error();
    EXPECT_EQ(hs_set_num_threads(100000), HS_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(hs_get_num_threads(nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'threads' must not be NULL"), std::string::npos)
        << hs_last_error();
}

TEST(ThreadPolicyLive, CallingThreadPinnedToOneCpuGetsOneThread) {
    if (thread_count_set_in_environment()) GTEST_SKIP() << "OMP_NUM_THREADS or HYBRIDSEQ_NUM_THREADS is set";
    cpu_set_t original;
    ASSERT_EQ(sched_getaffinity(0, sizeof original, &original), 0);
    int first_cpu = -1;
    for (int cpu = 0; cpu < CPU_SETSIZE && first_cpu < 0; ++cpu) {
        if (CPU_ISSET(cpu, &original)) first_cpu = cpu;
    }
    ASSERT_GE(first_cpu, 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first_cpu, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    int32_t pinned = -1;
    const hs_status status = hs_get_num_threads(&pinned);
    ASSERT_EQ(sched_setaffinity(0, sizeof original, &original), 0);
    ASSERT_EQ(status, HS_OK) << hs_last_error();
    EXPECT_EQ(pinned, 1);
    int32_t unpinned = -1;
    ASSERT_EQ(hs_get_num_threads(&unpinned), HS_OK) << hs_last_error();
    EXPECT_GE(unpinned, 1);
    EXPECT_LE(unpinned, CPU_COUNT(&original)) << "capped by the affinity mask";
}

}  // namespace

namespace {

// The environment is read once per process, so each malformed value is tried in a fresh process: the
// "threadsafe" death-test style re-executes this binary for the statement. The child exits 3 when the kernels'
// policy reported HS_ERR_INVALID_ARGUMENT, after printing the message the parent matches.
void expect_rejected_environment(const char* name, const char* value, const char* message_pattern) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            setenv(name, value, 1);
            int32_t threads = 0;
            const hs_status status = hs_get_num_threads(&threads);
            std::fprintf(stderr, "%s\n", hs_last_error());
            std::exit(status == HS_ERR_INVALID_ARGUMENT ? 3 : 4);
        },
        ::testing::ExitedWithCode(3), message_pattern);
}

TEST(ThreadPolicyEnvironment, MalformedThreadCountIsReportedWithTheVariableAndTheValue) {
    expect_rejected_environment("HYBRIDSEQ_NUM_THREADS", "two",
                                "environment variable HYBRIDSEQ_NUM_THREADS must be a whole number of threads in "
                                "\\[1, 4096\\], got 'two'");
    expect_rejected_environment("HYBRIDSEQ_NUM_THREADS", "0", "got '0'");
}

TEST(ThreadPolicyEnvironment, MalformedAdaptiveSwitchIsReported) {
    expect_rejected_environment("HYBRIDSEQ_ADAPTIVE_THREADS", "off",
                                "environment variable HYBRIDSEQ_ADAPTIVE_THREADS must be 0 or 1, got 'off'");
}

TEST(ThreadPolicyEnvironment, ValidThreadCountIsUsed) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            setenv("HYBRIDSEQ_NUM_THREADS", "3", 1);
            int32_t threads = 0;
            const hs_status status = hs_get_num_threads(&threads);
            std::exit(status == HS_OK ? threads : 100);
        },
        ::testing::ExitedWithCode(3), "");
}

}  // namespace
