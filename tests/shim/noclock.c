/*
 * LD_PRELOAD for daemons under test: every call that would set or adjust
 * the system clock succeeds without doing so, and reads pass through.
 * The host's clock is shared by every namespace and must never change;
 * the daemon's own logic (selection, "clock is now synced") runs as it
 * would. Tests also drop CAP_SYS_TIME (capsh), so a call this misses
 * fails with EPERM instead of touching the clock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>

int adjtime(const struct timeval *delta, struct timeval *olddelta)
{
	(void)delta;
	if (olddelta) {
		olddelta->tv_sec = 0;
		olddelta->tv_usec = 0;
	}
	return 0;
}

/* A read of the kernel's state (modes 0), whatever was asked. */
static int read_only(clockid_t clk, struct timex *t)
{
	static int (*real)(clockid_t, struct timex *);
	unsigned int modes = t->modes;
	int r;

	if (!real)
		real = (int (*)(clockid_t, struct timex *))dlsym(RTLD_NEXT, "clock_adjtime");
	t->modes = 0;
	r = real(clk, t);
	t->modes = modes;
	return r;
}

int adjtimex(struct timex *t) { return read_only(CLOCK_REALTIME, t); }
int ntp_adjtime(struct timex *t) { return read_only(CLOCK_REALTIME, t); }
int clock_adjtime(clockid_t clk, struct timex *t) { return read_only(clk, t); }
int settimeofday(const struct timeval *tv, const struct timezone *tz)
{
	(void)tv;
	(void)tz;
	return 0;
}
int clock_settime(clockid_t clk, const struct timespec *ts)
{
	(void)clk;
	(void)ts;
	return 0;
}
