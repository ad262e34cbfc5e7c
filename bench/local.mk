# Benchmarks, built and run by `make bench` (never by make check: timings need an idle machine).
EXTRA_PROGRAMS += %D%/bench_train %D%/bench_fisher %D%/bench_outliers %D%/blas_info \
	%D%/bench_dispatch %D%/bench_conv %D%/bench_net
BENCH_LDADD = host/liblethe.la -lm
bench_bench_train_SOURCES = %D%/bench_train.c %D%/bench_threads.c %D%/bench_threads.h
bench_bench_train_LDADD = $(BENCH_LDADD)
bench_bench_fisher_SOURCES = %D%/bench_fisher.c %D%/bench_engine.c %D%/bench_engine.h
bench_bench_fisher_LDADD = $(BENCH_LDADD)
bench_bench_outliers_SOURCES = %D%/bench_outliers.c plugins/ovor/outliers.c \
	plugins/ovor/outliers.h
bench_bench_outliers_LDADD = $(BENCH_LDADD)
bench_blas_info_SOURCES = %D%/blas_info.c %D%/bench_threads.c %D%/bench_threads.h
bench_blas_info_LDADD = $(BENCH_LDADD)
bench_bench_dispatch_SOURCES = %D%/bench_dispatch.c %D%/bench_engine.c %D%/bench_engine.h
bench_bench_dispatch_LDADD = $(BENCH_LDADD)
# Each conv layer's forward and backward GFLOP/s at batch 64 against the same cblas_sgemm calls,
# and pooling and batch norm throughput.
bench_bench_conv_LDADD = $(BENCH_LDADD)
# Training throughput of the MLP, the CNN and ResNet-18 at 1 and 2 threads.
bench_bench_net_LDADD = $(BENCH_LDADD)

# The hook dispatch figure: a plugin that does nothing, under eight names (NOOP_NAME), since a
# scenario lists a plugin once. One source, so one rule rather than eight libtool targets.
NOOP_PLUGINS = $(foreach n,1 2 3 4 5 6 7 8,%D%/noop$(n).la)
%D%/noop%.lo: $(srcdir)/%D%/noop.c
	@$(MKDIR_P) %D%
	$(AM_V_CC)$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=compile $(CC) $(PLUGIN_CPPFLAGS) \
		$(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS) -DNOOP_NAME='"noop$*"' -c -o $@ $<
%D%/noop%.la: %D%/noop%.lo
	$(AM_V_CCLD)$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(AM_CFLAGS) $(CFLAGS) \
		$(PLUGIN_LDFLAGS) -rpath /nowhere $(LDFLAGS) -o $@ $<
# The allocation counter bench_methods.sh preloads (LD_PRELOAD): not a plugin, no SDK.
MALLOC_COUNT = %D%/malloc_count.la
%D%/malloc_count.lo: $(srcdir)/%D%/malloc_count.c
	@$(MKDIR_P) %D%
	$(AM_V_CC)$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=compile $(CC) $(CPPFLAGS) $(AM_CFLAGS) \
		$(CFLAGS) -c -o $@ $<
%D%/malloc_count.la: %D%/malloc_count.lo
	$(AM_V_CCLD)$(LIBTOOL) $(AM_V_lt) --tag=CC --mode=link $(CC) $(AM_CFLAGS) $(CFLAGS) \
		-module -avoid-version -shared -rpath /nowhere $(LDFLAGS) -o $@ $<
CLEANFILES += $(EXTRA_PROGRAMS) $(NOOP_PLUGINS) $(NOOP_PLUGINS:.la=.lo) $(NOOP_PLUGINS:.la=.o) \
	$(MALLOC_COUNT) $(MALLOC_COUNT:.la=.lo) $(MALLOC_COUNT:.la=.o)
clean-local: clean-bench
clean-bench:
	-rm -rf %D%/.libs %D%/_libs
EXTRA_DIST += %D%/noop.c %D%/malloc_count.c %D%/cl_table.sh %D%/unlearn_table.sh \
	%D%/tui_overhead.sh %D%/bench_checkpoint.sh %D%/bench_sweep.sh %D%/lib.sh
dist_noinst_SCRIPTS += %D%/bench_scenarios.sh %D%/bench_methods.sh %D%/bench_compare.sh \
	%D%/bench_axes.sh %D%/torch/twin.py

# The kernel and threads first, then the products against their roofline (1 and 2 threads),
# the conv layers against theirs, whole models' training steps on 1 and 2 threads, the Fisher, the outliers and the hook dispatch, then every
# shipped scenario kind at train.epochs = 1 (EPOCHS=2 for the scenarios' own) with the share of
# each phase, then each strategy's time against naive's and its allocations per batch.
bench: all %D%/bench_train$(EXEEXT) %D%/bench_fisher$(EXEEXT) %D%/bench_outliers$(EXEEXT) \
		%D%/blas_info$(EXEEXT) %D%/bench_dispatch$(EXEEXT) %D%/bench_conv$(EXEEXT) \
		%D%/bench_net$(EXEEXT) $(NOOP_PLUGINS) $(MALLOC_COUNT)
	bench/blas_info$(EXEEXT) 1
	bench/bench_train$(EXEEXT) 1
	bench/bench_train$(EXEEXT) 2
	bench/bench_conv$(EXEEXT)
	bench/bench_net$(EXEEXT)
	LETHE_BUILD_PLUGINS='$(abs_top_builddir)/plugins' bench/bench_fisher$(EXEEXT)
	bench/bench_outliers$(EXEEXT)
	NOOP_PATH='$(abs_top_builddir)/bench/.libs' bench/bench_dispatch$(EXEEXT)
	LETHE=host/lethe $(SHELL) $(srcdir)/bench/bench_scenarios.sh
	LETHE=host/lethe SHIM=bench/.libs/malloc_count.so $(SHELL) $(srcdir)/bench/bench_methods.sh

# lethe against its PyTorch twin (Debian's python3-torch) on the split Fashion-MNIST naive, EWC
# and rehearsal scenarios, THREADS threads each (1 unless given: make bench-compare THREADS=2;
# TWIN_ARGS='--data float' for the twin that keeps a float32 copy of the data; ARCH=cnn for the
# CNN scenarios; TWIN_ISA=native to leave the twin's oneDNN its widest instructions).
# Skipped, with a message, where torch does not import. bench-axes: how both grow with the
# number of tasks, the width and the rehearsal buffer (minutes).
bench-compare: all %D%/blas_info$(EXEEXT)
	bench/blas_info$(EXEEXT) $(THREADS)
	LETHE=host/lethe ARCH='$(ARCH)' THREADS='$(THREADS)' TWIN_ARGS='$(TWIN_ARGS)' \
		TWIN_ISA='$(TWIN_ISA)' BLAS_INFO=bench/blas_info$(EXEEXT) \
		$(SHELL) $(srcdir)/bench/bench_compare.sh
bench-axes: all
	LETHE=host/lethe THREADS='$(THREADS)' $(SHELL) $(srcdir)/bench/bench_axes.sh
# lethe against its fidelity twin (bench/torch/cl.py, written from the papers): each of
# SCENARIOS (default: the shipped split and permuted scenarios the twin has strategies for) over
# SEEDS (default 1,2,3), ACC, BWT and forgetting side by side, |difference| > 0.02 flagged.
FIDELITY_SCENARIOS = split-fashion-naive split-fashion-joint split-fashion-ewc split-fashion-l2 \
	split-fashion-rehearsal split-fashion-naive-til split-fashion-joint-til \
	split-fashion-ewc-til split-fashion-l2-til split-fashion-rehearsal-til \
	permuted-fashion-naive permuted-fashion-ewc permuted-fashion-rehearsal
FIDELITY_SEEDS = 1,2,3
bench-fidelity: all
	LETHE=host/lethe $(SHELL) $(srcdir)/bench/fidelity.sh \
		$(or $(SCENARIOS),$(FIDELITY_SCENARIOS)) --seeds $(or $(SEEDS),$(FIDELITY_SEEDS))
EXTRA_DIST += %D%/torch/README.md %D%/torch/cl.py %D%/torch/compare.py %D%/torch/test_twin.py \
	%D%/torch/safetensors_twin.py \
	%D%/torch/lethe_twin
dist_noinst_SCRIPTS += %D%/fidelity.sh %D%/unlearn_fidelity.sh %D%/unlearn_gap.py
.PHONY: bench bench-compare bench-axes bench-fidelity clean-bench
