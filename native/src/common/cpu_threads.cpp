// The live side of the thread policy (cpu_threads.h): the user's settings, the affinity mask, the cgroup quota and
// the machine's load, read from the process and the OS.
#include "common/cpu_threads.h"

#include <omp.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

#include "common/error.h"

namespace hs::cpu {
namespace {

constexpr const char* kThreadsVariable = "HYBRIDSEQ_NUM_THREADS";
constexpr const char* kAdaptiveVariable = "HYBRIDSEQ_ADAPTIVE_THREADS";

// A setting read from the environment once per process (like libgomp reads OMP_NUM_THREADS once): the value, or
// the message of the error every kernel call then reports, so that a typo is never silently ignored.
struct EnvironmentSettings {
    int threads = 0;
    bool adaptive = true;
    bool openmp_user_set = false;
    std::string error;
};

EnvironmentSettings read_environment() {
    EnvironmentSettings settings;
    const char* openmp = std::getenv("OMP_NUM_THREADS");
    settings.openmp_user_set = openmp != nullptr && openmp[0] != '\0';
    if (const char* text = std::getenv(kThreadsVariable); text != nullptr && text[0] != '\0') {
        errno = 0;
        char* end = nullptr;
        const long value = std::strtol(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 4096) {
            settings.error = std::string("environment variable ") + kThreadsVariable +
                             " must be a whole number of threads in [1, 4096], got '" + text + "'";
        } else {
            settings.threads = static_cast<int>(value);
        }
    }
    if (const char* text = std::getenv(kAdaptiveVariable); text != nullptr && text[0] != '\0') {
        if (std::strcmp(text, "0") == 0) {
            settings.adaptive = false;
        } else if (std::strcmp(text, "1") != 0) {
            settings.error = std::string("environment variable ") + kAdaptiveVariable + " must be 0 or 1, got '" +
                             text + "'";
        }
    }
    return settings;
}

const EnvironmentSettings& environment_settings() {
    static const EnvironmentSettings settings = read_environment();
    return settings;
}

// hs_set_num_threads; -1 = not set (the environment's HYBRIDSEQ_NUM_THREADS applies).
std::atomic<int> explicit_threads{-1};

#if defined(__linux__)

// Reads a whole small file (procfs, cgroupfs); "" when it cannot be read.
std::string read_small_file(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string();
    char buffer[512];
    std::string text;
    for (;;) {
        const ssize_t count = ::read(fd, buffer, sizeof buffer);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        text.append(buffer, static_cast<size_t>(count));
        if (text.size() > 65536) break;
    }
    ::close(fd);
    return text;
}

int affinity_cpu_count() {
    // Masks for up to 1024 CPUs first; larger machines need a larger mask (EINVAL).
    for (int cpus = CPU_SETSIZE; cpus <= 65536; cpus *= 4) {
        cpu_set_t* mask = CPU_ALLOC(cpus);
        if (mask == nullptr) return 0;
        const size_t bytes = CPU_ALLOC_SIZE(cpus);
        CPU_ZERO_S(bytes, mask);
        const int rc = sched_getaffinity(0, bytes, mask);
        const int count = rc == 0 ? CPU_COUNT_S(bytes, mask) : 0;
        CPU_FREE(mask);
        if (rc == 0) return count;
        if (errno != EINVAL) return 0;
    }
    return 0;
}

// "max 100000" or "150000 100000" (cgroup v2 cpu.max) -> whole CPUs, rounded up; 0 when unlimited or unreadable.
int quota_from_cpu_max(const std::string& text) {
    std::istringstream in(text);
    std::string quota;
    long long period = 0;
    if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
    const long long microseconds = std::atoll(quota.c_str());
    if (microseconds <= 0) return 0;
    return static_cast<int>(std::min<long long>(INT_MAX, (microseconds + period - 1) / period));
}

int cgroup_v2_quota(const std::string& relative) {
    // The quota of a cgroup is the smallest one on its path to the root.
    int smallest = 0;
    std::string path = relative;
    for (;;) {
        const std::string file = "/sys/fs/cgroup" + (path == "/" ? std::string() : path) + "/cpu.max";
        const int quota = quota_from_cpu_max(read_small_file(file.c_str()));
        if (quota > 0 && (smallest == 0 || quota < smallest)) smallest = quota;
        if (path.empty() || path == "/") break;
        const size_t slash = path.find_last_of('/');
        path = slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
    }
    return smallest;
}

int cgroup_v1_quota(const std::string& controllers, const std::string& relative) {
    // The controller is mounted as cpu, cpu,cpuacct or cpuacct,cpu; inside a container the process's own path is
    // usually the mount's root.
    for (const std::string& mount : {"/sys/fs/cgroup/" + controllers, std::string("/sys/fs/cgroup/cpu")}) {
        for (const std::string& path : {mount + relative, mount}) {
            const std::string quota = read_small_file((path + "/cpu.cfs_quota_us").c_str());
            const std::string period = read_small_file((path + "/cpu.cfs_period_us").c_str());
            if (quota.empty() || period.empty()) continue;
            const long long q = std::atoll(quota.c_str()), p = std::atoll(period.c_str());
            if (q <= 0 || p <= 0) return 0;
            return static_cast<int>(std::min<long long>(INT_MAX, (q + p - 1) / p));
        }
    }
    return 0;
}

int cgroup_quota_cpus() {
    std::istringstream lines(read_small_file("/proc/self/cgroup"));
    std::string line;
    int quota = 0;
    while (std::getline(lines, line)) {
        // "hierarchy-id:controllers:path"
        const size_t first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string path = line.substr(second + 1);
        int found = 0;
        if (line.compare(0, first, "0") == 0 && controllers.empty()) {
            found = cgroup_v2_quota(path);
        } else if (("," + controllers + ",").find(",cpu,") != std::string::npos) {
            found = cgroup_v1_quota(controllers, path);
        }
        if (found > 0 && (quota == 0 || found < quota)) quota = found;
    }
    return quota;
}

// Read once: a quota changes rarely, and reading it costs several file reads.
int cached_quota_cpus() {
    static const int quota = cgroup_quota_cpus();
    return quota;
}

// The runnable threads of the machine: the numerator of /proc/loadavg's fourth field ("0.52 0.58 0.59 3/911 4711").
int running_threads_on_machine() {
    const std::string text = read_small_file("/proc/loadavg");
    double one = 0, five = 0, fifteen = 0;
    int running = 0, total = 0;
    if (std::sscanf(text.c_str(), "%lf %lf %lf %d/%d", &one, &five, &fifteen, &running, &total) != 5) return 0;
    return running;
}

// This process's runnable threads: one /proc/self/task/<tid>/stat per thread (state 'R' after the command name).
int running_threads_of_process() {
    DIR* tasks = ::opendir("/proc/self/task");
    if (tasks == nullptr) return 1;
    int running = 0;
    while (const dirent* entry = ::readdir(tasks)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        const std::string path = std::string("/proc/self/task/") + entry->d_name + "/stat";
        const std::string stat = read_small_file(path.c_str());
        const size_t close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'R') ++running;
    }
    ::closedir(tasks);
    return std::max(1, running);  // the caller is running while it reads this
}

// The last full load sample (free_cpus) and when it was taken (steady clock, microseconds; 0 = never).
constexpr int64_t kSampleReuseUs = 100000;
std::atomic<int64_t> last_sample_us{0};
std::atomic<int> last_free_cpus{1};

int online_cpu_count() {
    static const int online = static_cast<int>(std::max(0L, sysconf(_SC_NPROCESSORS_ONLN)));
    return online;
}

#else

int affinity_cpu_count() { return 0; }
int cached_quota_cpus() { return 0; }

#endif

}  // namespace

ThreadEnvironment current_thread_environment() {
    const EnvironmentSettings& settings = environment_settings();
    if (!settings.error.empty()) hs::throw_invalid(settings.error);
    ThreadEnvironment env;
    env.openmp_max_threads = omp_get_max_threads();
    env.openmp_user_set = settings.openmp_user_set;
    const int set_by_call = explicit_threads.load(std::memory_order_relaxed);
    env.explicit_threads = set_by_call >= 0 ? set_by_call : settings.threads;
    env.affinity_cpus = affinity_cpu_count();
    env.quota_cpus = cached_quota_cpus();
    env.adaptive = settings.adaptive;
    return env;
}

int kernel_threads() { return base_thread_count(current_thread_environment()); }

int step_kernel_threads() {
    const ThreadEnvironment env = current_thread_environment();
    const int base = base_thread_count(env);
    if (!wants_load_sample(env, base)) return base;
    LoadSample load;
#if defined(__linux__)
    load.online_cpus = online_cpu_count();
    load.running_threads = running_threads_on_machine();
    if (load.online_cpus <= 0 || load.running_threads <= 0) return base;
    // The caller is one of the runnable threads. When all the others together still leave `base` CPUs free, the
    // answer is `base` whoever they belong to: skip the per-thread reads below.
    if (load.online_cpus - (load.running_threads - 1) >= base) return base;
    // Counting our own runnable threads reads one procfs file per thread of the process (a .NET process has dozens;
    // about 1 ms for 31 threads on the loaded 2-core development machine), so its result, the free CPUs, is reused
    // for kSampleReuseUs. A competitor that appears is seen within that time; one that leaves is seen at once by the
    // check above.
    const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    const int64_t sampled_at = last_sample_us.load(std::memory_order_relaxed);
    if (sampled_at != 0 && now - sampled_at < kSampleReuseUs) {
        return std::clamp(last_free_cpus.load(std::memory_order_relaxed), 1, base);
    }
    load.running_own = running_threads_of_process();
    const int free_now = free_cpus(load);
    last_free_cpus.store(free_now, std::memory_order_relaxed);
    last_sample_us.store(now, std::memory_order_relaxed);
#endif
    return step_thread_count(env, load);
}

void set_explicit_threads(int threads) {
    if (threads < 0 || threads > 4096) {
        hs::throw_invalid("argument 'threads' must be 0 (automatic) or a thread count in [1, 4096], got " +
                          std::to_string(threads));
    }
    // 0 hands the choice back to the environment (HYBRIDSEQ_NUM_THREADS, else automatic).
    explicit_threads.store(threads == 0 ? -1 : threads, std::memory_order_relaxed);
}

}  // namespace hs::cpu
