// nvml.h — GPU telemetry from NVML, opened at run time: dlopen of
// libnvidia-ml.so.1, never linked, so the binary starts with no driver (the
// environment variable IS_NVML_LIB names another library instead: the tests load
// a stand-in that way). A sampler thread reads the SM and memory clocks, the
// power, the temperature, the clock event ("throttle") reasons and the
// total-energy counter every period; the summary gives min / median / max of
// each, the energy of the window and whether the GPU throttled. Without the
// library, a driver or the device: NULL with the reason, never a crash.
// Declares: is_nvml, is_nvml_open, is_nvml_close, is_nvml_name, is_nvml_index,
// is_nvml_sample, is_nvml_series, is_nvml_sample_now, is_nvml_series_free,
// is_nvml_sampler, is_nvml_sampler_start, is_nvml_sampler_stop, is_nvml_range,
// is_nvml_summary, is_nvml_summarize, is_nvml_energy_method_name,
// is_nvml_reason_name, IS_NVML_THROTTLE_MASK.
#ifndef IS_PROF_NVML_H
#define IS_PROF_NVML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IS_NVML_SONAME "libnvidia-ml.so.1"
#define IS_NVML_LIB_ENV "IS_NVML_LIB"   // a path to load instead of IS_NVML_SONAME
#define IS_NVML_DEFAULT_PERIOD_MS 50

// NVML opened and initialized (nvmlInit_v2), and the device of a CUDA ordinal.
// NVML numbers devices in PCI bus order and ignores CUDA_VISIBLE_DEVICES: an
// ordinal is mapped through CUDA_VISIBLE_DEVICES when it is set (its entry: an
// index, or a GPU-... UUID), else taken as the NVML index. CUDA orders devices
// fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so on a machine with GPUs
// of different kinds the two orders can differ: is_nvml_name says which GPU is
// measured. NULL with the reason in why: "cannot load NVML: libnvidia-ml.so.1:
// cannot open shared object file: ...", "nvmlInit_v2: Driver Not Loaded",
// "nvmlDeviceGetHandleByIndex_v2(3): Invalid Argument".
typedef struct is_nvml is_nvml;
is_nvml *is_nvml_open(int cuda_ordinal, char *why, size_t why_len);
void is_nvml_close(is_nvml *nv); // nvmlShutdown, dlclose; NULL is fine
const char *is_nvml_name(const is_nvml *nv); // NVML's name of the device ("" when it has none)
int is_nvml_index(const is_nvml *nv);        // the NVML index opened (-1: by UUID)

// The quantities of a sample, in the order is_nvml_sample_now reads them.
enum { IS_NVML_Q_SM_CLOCK, IS_NVML_Q_MEM_CLOCK, IS_NVML_Q_POWER, IS_NVML_Q_TEMP, IS_NVML_Q_REASONS,
       IS_NVML_Q_ENERGY, IS_NVML_N_Q };

typedef struct is_nvml_sample {
    double t_s;                  // CLOCK_MONOTONIC seconds, taken before the reads
    double sm_clock_mhz, mem_clock_mhz; // nvmlDeviceGetClockInfo (NaN: the read failed)
    double power_w;              // nvmlDeviceGetPowerUsage (milliwatts / 1000)
    double temp_c;               // nvmlDeviceGetTemperature, the GPU die sensor
    double energy_mj;            // nvmlDeviceGetTotalEnergyConsumption: mJ since the driver loaded
    uint64_t reasons;            // nvmlDeviceGetCurrentClocksEventReasons (older drivers:
    bool reasons_ok;             // ...ThrottleReasons); meaningful when reasons_ok
} is_nvml_sample;

typedef struct is_nvml_series {
    is_nvml_sample *v;           // malloc'd; is_nvml_series_free
    int n, cap;
    int period_ms;               // the sampler's period (0: samples taken by hand)
    char errors[IS_NVML_N_Q][192]; // the first failed read of each quantity, "" when none:
                                 // "nvmlDeviceGetTotalEnergyConsumption: Not Supported"
} is_nvml_series;

// Reads every quantity once and appends the sample to s; a failed read leaves
// its value NaN (reasons_ok false) and keeps its message in s->errors.
void is_nvml_sample_now(is_nvml *nv, is_nvml_series *s);
void is_nvml_series_free(is_nvml_series *s);

// start: one sample at once (in the caller's thread, so the window begins at
// the call), then a thread samples every period_ms; stop: the thread is joined,
// one last sample is taken (the window ends at the call) and the series moves
// into out. NULL with the reason when the thread cannot start. nv must stay
// open until stop; one sampler per is_nvml at a time.
typedef struct is_nvml_sampler is_nvml_sampler;
is_nvml_sampler *is_nvml_sampler_start(is_nvml *nv, int period_ms, char *why, size_t why_len);
void is_nvml_sampler_stop(is_nvml_sampler *s, is_nvml_series *out);

// ---- the summary of a series ----------------------------------------------------

typedef struct is_nvml_range {
    int n;                       // samples with a reading; 0: min, median and max are NaN
    double min, median, max;
} is_nvml_range;

typedef enum {
    IS_NVML_ENERGY_NONE,         // neither way worked (fewer than 2 samples, or no power reading)
    IS_NVML_ENERGY_COUNTER,      // the total-energy counter's difference, last sample minus first
    IS_NVML_ENERGY_TRAPEZOID,    // power integrated over the sample times, trapezoid rule
} is_nvml_energy_method;

// The clock event reasons that count as throttling: the clocks are held below
// what the work asks for by a limit of the board. From NVML's documented bits:
//   0x04 SwPowerCap            clocks lowered to stay under the power limit
//   0x08 HwSlowdown            hardware slowdown (clocks / 2 or less): too hot,
//                              an external power brake, or power draw too high
//   0x20 SwThermalSlowdown     clocks lowered to keep the GPU under its temperature limits
//   0x40 HwThermalSlowdown     hardware slowdown for temperature
//   0x80 HwPowerBrakeSlowdown  hardware slowdown by an external power brake
// Benign, reported but not counted: 0x01 GpuIdle (nothing runs: the clocks fall
// to idle), 0x02 ApplicationsClocksSetting (clocks capped by the application
// clocks an administrator set: a configuration, the same in every sample),
// 0x10 SyncBoost (clocks held together with the other GPUs of a sync-boost
// group), 0x100 DisplayClockSetting (clocks held by the display clock setting).
// Bits NVML adds later are reported by number and not counted.
#define IS_NVML_THROTTLE_MASK (0x04ULL | 0x08ULL | 0x20ULL | 0x40ULL | 0x80ULL)

typedef struct is_nvml_summary {
    int n_samples;
    double duration_s;           // first sample to last (0 with fewer than 2)
    is_nvml_range sm_clock_mhz, mem_clock_mhz, power_w, temp_c;
    double energy_j;             // NaN when energy_method is NONE
    is_nvml_energy_method energy_method;
    uint64_t reasons;            // OR of every sample's reasons
    int n_reasons;               // samples whose reasons were read (0: throttling unknown)
    int throttled_samples;       // samples with a bit of IS_NVML_THROTTLE_MASK
    bool throttled;              // throttled_samples > 0
} is_nvml_summary;

// Energy: the counter's difference when the first and the last sample both read
// it and it advanced (the counter updates every 20-100 ms or so, so a window
// shorter than that can read no change; a smaller value means the driver was
// reloaded); else the trapezoid rule over the samples' power, which needs a
// power reading in every sample (a missing one would leave a gap uncounted).
// Power from nvmlDeviceGetPowerUsage may be a trailing average (about a second
// on recent boards), so integration follows changes late: the counter is
// preferred where the GPU has one (Volta and later).
void is_nvml_summarize(const is_nvml_series *s, is_nvml_summary *out);
const char *is_nvml_energy_method_name(is_nvml_energy_method m); // "counter", "power_trapezoid", "none"
// The name of one reason bit ("sw_power_cap"), NULL for a bit NVML did not document.
const char *is_nvml_reason_name(uint64_t bit);

#endif
