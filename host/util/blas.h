/* Which OpenBLAS kernel the products run on. A distribution's OpenBLAS picks its kernel from the
 * CPU at load time, and a release older than the CPU falls back to a generic pre-AVX2 one
 * ("Prescott", "Sandybridge", "Unknown", ...), several times slower than the Haswell or SkylakeX
 * kernels the CPU could run; OPENBLAS_CORETYPE picks the kernel by hand, and OpenBLAS takes any
 * name it knows, even a kernel whose instructions the CPU lacks: the first product then dies of
 * SIGILL. The kernel also decides the products' last bits (each sums in its own order), so a
 * run records it beside its thread count. */
#ifndef LETHE_BLAS_H
#define LETHE_BLAS_H

#include <stddef.h>
#include <stdio.h>

/* The vector features that decide which kernel fits. */
struct blas_cpu {
	int avx2, avx512f, avx, fma;
};

/* This process's CPU; no features off x86. */
void blas_cpu_detect(struct blas_cpu *cpu);

/* The OPENBLAS_CORETYPE to advise for core (openblas_get_corename's name, any case) on cpu:
 * "SkylakeX" or "Haswell" when core is older than AVX2 on a CPU with AVX-512 or AVX2, else NULL
 * (the kernel fits, or core is NULL). A Haswell or Zen kernel on an AVX-512 CPU is left alone:
 * at lethe's sizes it runs as fast as the AVX-512 ones. */
const char *blas_advice(const char *core, const struct blas_cpu *cpu);

/* Writes into buf (size bytes) the one-line notice for core on cpu, without a newline; returns
 * 1, or 0 with buf untouched when blas_advice has nothing to say. */
int blas_notice(char *buf, size_t size, const char *core, const struct blas_cpu *cpu);

/* Prints the notice for the running kernel to out, at most once per process, and nothing when
 * the user chose the kernel with OPENBLAS_CORETYPE. */
void blas_check_kernel(FILE *out);

/* The instruction set core's kernel needs and cpu lacks: "AVX-512" (SkylakeX, Cooperlake,
 * SapphireRapids: AVX-512F), "AVX2" (Haswell, Zen: AVX2 and FMA), "AVX" (Sandybridge and AMD's
 * Bulldozer to Excavator); NULL when it has them, or for any other name (any case) or NULL. */
const char *blas_missing(const char *core, const struct blas_cpu *cpu);

/* Writes into buf the one-line refusal, without a newline, for running core on cpu when
 * blas_missing names what it lacks, and returns 1; else 0, buf untouched. chosen is
 * OPENBLAS_CORETYPE's value, NULL when unset: the line names the variable and what to set. */
int blas_refusal(char *buf, size_t size, const char *core, const struct blas_cpu *cpu,
		 const char *chosen);

/* 0 when this CPU can run the kernel OpenBLAS loaded; else prints blas_refusal's line to out
 * (unless NULL) and returns -1. Makes no BLAS call: run it before the first. */
int blas_check_runnable(FILE *out);

/* The kernel the products run on, as openblas_get_corename names it. */
const char *blas_kernel(void);

/* The threads OpenBLAS runs a product on, and setting them (process-wide). */
int blas_threads(void);
void blas_set_threads(int threads);

/* "OpenBLAS 0.3.21", the library and its version, into buf; returns buf. */
const char *blas_library(char *buf, size_t size);

/* "OpenBLAS 0.3.21, kernel Cooperlake, 1 thread" for benches and logs, into buf; returns buf. */
const char *blas_describe(char *buf, size_t size);

#endif
