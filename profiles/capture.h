// capture.h — in-process NVTX capture: inferscope registers itself as the NVTX
// tool (a static injection) when a run asks for its own ranges (--trace, the
// profile command, tests), and records every range with host timestamps.
// Declares: is_prof_capture_begin, is_prof_capture_end, is_prof_capture_take,
// is_prof_capture_copy_since, is_prof_capture_set_hook.
//
// When NVTX_INJECTION64_PATH names an external tool (Nsight Systems sets it),
// NVTX hands the ranges to that tool and the capture stays off. The injection
// attaches only if is_prof_capture_begin runs before the process's first NVTX
// call; otherwise every NVTX call stays a no-op.
#ifndef IS_PROF_CAPTURE_H
#define IS_PROF_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct is_prof_event {
    const char *name;     // interned: valid for the life of the process
    const char *domain;   // "inferscope", or "" for NVTX's default domain
    uint32_t category;    // NVTX category id (is_prof_category for our domain)
    uint64_t payload;
    uint64_t tid;         // OS thread id of the thread that pushed and popped it
    int depth;            // 0 for a range with no open parent on its thread
    int64_t t0_ns, t1_ns; // CLOCK_MONOTONIC (is_now_s() * 1e9)
} is_prof_event;

typedef struct is_prof_capture {
    is_prof_event *events; // in order of completion (a child before its parent)
    size_t n;
    size_t dropped;        // ranges not kept (the store was full)
    size_t unbalanced;     // pops with no open range on their thread
} is_prof_capture;

// Starts recording. Returns 0, or -1 with the reason in why (an external NVTX
// tool is attached, or NVTX was used before the capture could attach).
int is_prof_capture_begin(char *why, size_t why_len);
// Stops recording; ranges still open are not kept.
void is_prof_capture_end(void);
bool is_prof_capture_active(void);
// Moves what was recorded so far into out (free with is_prof_capture_free) and
// empties the store; recording goes on if active.
void is_prof_capture_take(is_prof_capture *out);
void is_prof_capture_free(is_prof_capture *c);
// Copies the ranges recorded so far that started at or after since_ns into out
// (free with is_prof_capture_free); the store keeps them.
void is_prof_capture_copy_since(int64_t since_ns, is_prof_capture *out);

// A function told of every range pushed and popped, on any thread, while set,
// whether recording is on or not (the counter pass opens a CUPTI range around
// each phase through it). Needs the capture attached (is_prof_capture_begin
// succeeded once). NULL removes it.
typedef void (*is_prof_range_hook)(const char *name, bool push);
void is_prof_capture_set_hook(is_prof_range_hook hook);

// The recording itself: what the NVTX callbacks call (and, in a build without
// the NVTX headers, what the ranges call directly). name must stay valid.
void is_prof_capture_push(const char *domain, const char *name, uint32_t category, uint64_t payload);
void is_prof_capture_pop(void);

int64_t is_prof_now_ns(void); // the capture's clock
uint64_t is_prof_thread_id(void);

#endif
