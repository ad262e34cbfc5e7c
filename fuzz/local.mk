# `make fuzz`: each fuzz/fuzz_NAME.c is built with clang's libFuzzer, ASan and UBSan (whatever CC
# configure chose) from the host sources it reads, not from the libtool library, and run for
# FUZZ_SECONDS on a scratch copy of fuzz/corpus/NAME with fuzz/NAME.dict if there is one. Any
# crash, leak or timeout fails it; the input is kept as fuzz/fuzz_NAME-crash-*.
FUZZ_TARGETS = scenario idx checkpoint safetensors
FUZZ_SECONDS = 60
FUZZ_CC = clang
FUZZ_CFLAGS = -std=gnu11 -Wall -Wextra -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS = $(DEFAULT_INCLUDES) $(AM_CPPFLAGS)
FUZZ_LIBS = $(OPENBLAS_LIBS) $(INIH_LIBS) $(DEFLATE_LIBS) $(JANSSON_LIBS) $(LIBS) -lm
# The scenario reader builds models and opens data: the core library's sources.
FUZZ_SRC_scenario = $(FUZZ_SRC_checkpoint)
FUZZ_SRC_idx = host/util/error.c host/util/files.c host/util/rng.c host/data/dataset.c \
	host/data/cifar.c host/data/gz.c host/data/tasks.c
# The checkpoint reader: the core library's sources.
FUZZ_SRC_checkpoint = $(filter %.c,$(host_liblethe_la_SOURCES))
# The safetensors reader, into a model of every kind of tensor: the same.
FUZZ_SRC_safetensors = $(FUZZ_SRC_checkpoint)
FUZZERS = $(FUZZ_TARGETS:%=%D%/fuzz_%)
CLEANFILES += $(FUZZERS)

%D%/fuzz_%: $(srcdir)/%D%/fuzz_%.c $(host_liblethe_la_SOURCES) config.h
	$(AM_V_GEN)$(MKDIR_P) %D% && $(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CPPFLAGS) -o $@ $< \
		$(addprefix $(srcdir)/,$(FUZZ_SRC_$*)) $(FUZZ_LIBS)

fuzz: $(FUZZERS)
	@status=0; for t in $(FUZZ_TARGETS); do \
		dict=; test -f $(srcdir)/fuzz/$$t.dict && dict=$(srcdir)/fuzz/$$t.dict; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(SHELL) $(srcdir)/fuzz/run.sh fuzz/fuzz_$$t $(srcdir)/fuzz/corpus/$$t \
			$(FUZZ_SECONDS) $$dict || { echo "fuzz: $$t FAILED"; status=1; }; \
	done; exit $$status
.PHONY: fuzz
# fuzz/ by name: an in-tree build puts the fuzzers and their crash inputs there too.
EXTRA_DIST += $(FUZZ_TARGETS:%=%D%/fuzz_%.c) %D%/run.sh %D%/corpus %D%/scenario.dict \
	%D%/idx.dict %D%/safetensors.dict
