#include "schedule.h"

#include <math.h>
#include <stddef.h>

const char *const schedule_names[] = { "power-law", "uniform", "exponential", "reservoir",
				       NULL };

static double schedule_n0(const struct schedule *s, uint64_t task_size)
{
	return s->n0 ? (double)s->n0 : s->n0_fraction * (double)task_size;
}

double schedule_rate(const struct schedule *s, uint32_t d, uint32_t past, uint64_t task_size)
{
	switch (s->kind) {
	case SCHEDULE_POWER_LAW:
		return schedule_n0(s, task_size) * pow(1.0 + d / s->d0, -s->a);
	case SCHEDULE_EXPONENTIAL:
		return schedule_n0(s, task_size) * exp(-(double)d / s->beta);
	case SCHEDULE_UNIFORM:
		return past ? (double)s->budget / past : 0.0;
	case SCHEDULE_RESERVOIR:
		break;
	}
	return 0.0;
}

uint64_t schedule_count(const struct schedule *s, uint32_t d, uint32_t past, uint64_t task_size)
{
	if (s->kind == SCHEDULE_UNIFORM)
		return past ? s->budget / past + (d <= s->budget % past) : 0;
	return (uint64_t)llround(schedule_rate(s, d, past, task_size));
}
