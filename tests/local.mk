# The tests: Check suites (one per module or plugin), shell tests of the program, test plugins.
# Every suite links the core library and the test helpers; a suite that needs more says so.
check_LTLIBRARIES += %D%/libtestutil.la
tests_libtestutil_la_SOURCES = %D%/testutil.c %D%/testutil.h
LDADD = tests/libtestutil.la host/liblethe.la $(CHECK_LIBS) -lm
ALLOC_HOOK = %D%/alloc_hook.c %D%/alloc_hook.h
CHECK_SUITES = %D%/check_abi %D%/check_archs %D%/check_baselines %D%/check_blas \
	%D%/check_checkpoint %D%/check_cifar %D%/check_dashboard \
	%D%/check_data %D%/check_engine %D%/check_evidence %D%/check_exemplars %D%/check_ewc %D%/check_files \
	%D%/check_forget %D%/check_l2 %D%/check_layers %D%/check_memories %D%/check_memory \
	%D%/check_metrics %D%/check_model \
	%D%/check_net %D%/check_ovor \
	%D%/check_plugin %D%/check_progress %D%/check_rehearsal %D%/check_report \
	%D%/check_repulsion %D%/check_safetensors %D%/check_scenario %D%/check_sfd \
	%D%/check_sweep %D%/check_unlearn %D%/check_neggrad %D%/check_l1sparse %D%/check_scrub \
	%D%/check_salun %D%/check_badteacher %D%/check_ssd
check_PROGRAMS += $(CHECK_SUITES) %D%/bad_inputs_json %D%/cifar_fixture %D%/safetensors_tool
tests_check_checkpoint_SOURCES = %D%/check_checkpoint.c $(ALLOC_HOOK)
tests_check_engine_SOURCES = %D%/check_engine.c $(ALLOC_HOOK)
tests_check_model_SOURCES = %D%/check_model.c $(ALLOC_HOOK)
tests_check_net_SOURCES = %D%/check_net.c $(ALLOC_HOOK)
tests_check_unlearn_SOURCES = %D%/check_unlearn.c $(ALLOC_HOOK)
# Plugins' inner parts, tested apart from the host.
tests_check_exemplars_SOURCES = %D%/check_exemplars.c plugins/common/exemplars.c \
	plugins/common/exemplars.h plugins/bic/correction.c plugins/bic/correction.h
tests_check_memories_SOURCES = %D%/check_memories.c plugins/gem/qp.c plugins/gem/qp.h
tests_check_ovor_SOURCES = %D%/check_ovor.c plugins/ovor/outliers.c plugins/ovor/outliers.h
tests_check_rehearsal_SOURCES = %D%/check_rehearsal.c plugins/rehearsal/schedule.c \
	plugins/rehearsal/schedule.h
tests_check_sfd_SOURCES = %D%/check_sfd.c plugins/sfd/distill.c plugins/sfd/distill.h \
	plugins/sfd/invert.c plugins/sfd/invert.h
# The unlearning methods: each suite compiles its plugin's source in (for its static
# functions) and learns on the fixture's synthetic data.
UNLEARN_TEST_SOURCES = %D%/forget_fixture.c %D%/forget_fixture.h plugins/common/forget_set.c \
	plugins/common/forget_set.h plugins/common/repair.c plugins/common/repair.h
tests_check_neggrad_SOURCES = %D%/check_neggrad.c $(UNLEARN_TEST_SOURCES)
tests_check_l1sparse_SOURCES = %D%/check_l1sparse.c $(UNLEARN_TEST_SOURCES)
tests_check_scrub_SOURCES = %D%/check_scrub.c $(UNLEARN_TEST_SOURCES)
tests_check_salun_SOURCES = %D%/check_salun.c $(UNLEARN_TEST_SOURCES)
tests_check_badteacher_SOURCES = %D%/check_badteacher.c $(UNLEARN_TEST_SOURCES)
tests_check_ssd_SOURCES = %D%/check_ssd.c $(UNLEARN_TEST_SOURCES)
# The front ends, the report and the sweeps: their own libraries (ncurses with the dashboard).
tests_check_dashboard_LDADD = host/ui/libui.la $(LDADD)
tests_check_progress_LDADD = host/ui/libui.la $(LDADD)
tests_check_report_LDADD = host/report/libreport.la $(LDADD)
tests_check_sweep_LDADD = host/sweep/libsweep.la $(LDADD)
tests_bad_inputs_json_LDADD = $(JANSSON_LIBS)
tests_cifar_fixture_LDADD =
tests_check_safetensors_LDADD = $(LDADD) $(JANSSON_LIBS)

# Test plugins, built against sdk/ alone (hooks_v1_0, hooks_v1_1, hooks_v1_2: against the released
# 1.0, 1.1 and 1.2 headers).
TEST_PLUGIN_FLAGS = -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += %D%/plugins/hooks.la %D%/plugins/hooks_v1_0.la %D%/plugins/hooks_v1_1.la \
	%D%/plugins/hooks_v1_2.la \
	%D%/plugins/abi_major.la \
	%D%/plugins/abi_minor.la %D%/plugins/no_entry.la %D%/plugins/vandal.la \
	%D%/plugins/hoarder.la
tests_plugins_hooks_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_hooks_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_hooks_v1_0_la_SOURCES = %D%/plugins/hooks.c
tests_plugins_hooks_v1_0_la_CPPFLAGS = -I$(top_srcdir)/tests/abi/v1.0 -fvisibility=hidden
tests_plugins_hooks_v1_0_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_hooks_v1_1_la_SOURCES = %D%/plugins/hooks.c
tests_plugins_hooks_v1_1_la_CPPFLAGS = -I$(top_srcdir)/tests/abi/v1.1 -fvisibility=hidden
tests_plugins_hooks_v1_1_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_hooks_v1_2_la_SOURCES = %D%/plugins/hooks.c
tests_plugins_hooks_v1_2_la_CPPFLAGS = -I$(top_srcdir)/tests/abi/v1.2 -fvisibility=hidden
tests_plugins_hooks_v1_2_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_abi_major_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_abi_major_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_abi_minor_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_abi_minor_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_vandal_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_vandal_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
tests_plugins_hoarder_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_hoarder_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
# sdk/example's LwF, so check_archs runs it on every architecture.
check_LTLIBRARIES += %D%/plugins/lwf.la
tests_plugins_lwf_la_SOURCES = sdk/example/lwf.c
tests_plugins_lwf_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_lwf_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
# In C++, with no extern "C" of its own: plugin.h's declaration of lethe_entry exports it.
check_LTLIBRARIES += %D%/plugins/cxx.la
tests_plugins_cxx_la_SOURCES = %D%/plugins/cxx.cc
tests_plugins_cxx_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_cxx_la_LDFLAGS = $(PLUGIN_LDFLAGS) -rpath /nowhere
# Exports nothing: the host must refuse it.
tests_plugins_no_entry_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
tests_plugins_no_entry_la_LDFLAGS = $(TEST_PLUGIN_FLAGS)

TESTS += $(CHECK_SUITES) %D%/cli.sh %D%/man.sh %D%/plugin_trust.sh %D%/kill.sh %D%/tui.sh \
	%D%/report.sh %D%/sweep.sh %D%/sweep_mpi.sh %D%/bad_inputs.sh %D%/include_graph.sh \
	%D%/cifar.sh %D%/safetensors_torch.sh %D%/provenance.sh %D%/events.sh %D%/compare.sh \
	%D%/export.sh %D%/curves.sh %D%/audit.sh
AM_TESTS_ENVIRONMENT = \
	LETHE_TEST_BUILDDIR='$(abs_top_builddir)'; export LETHE_TEST_BUILDDIR; \
	LETHE_TEST_PLUGINS='$(abs_top_builddir)/tests/plugins/.libs'; export LETHE_TEST_PLUGINS; \
	LETHE_TEST_SRCDIR='$(abs_top_srcdir)'; export LETHE_TEST_SRCDIR; \
	LETHE_BUILD_PLUGINS='$(abs_top_builddir)/plugins'; export LETHE_BUILD_PLUGINS; \
	LETHE_BIN='$(abs_top_builddir)/host/lethe'; export LETHE_BIN; \
	CK_DEFAULT_TIMEOUT=300; export CK_DEFAULT_TIMEOUT;
EXTRA_DIST += %D%/abi %D%/installcheck.sh %D%/cli.sh %D%/accept.sh %D%/man.sh %D%/testlib.sh \
	%D%/plugin_trust.sh %D%/kill.sh %D%/tui.sh %D%/report.sh %D%/sweep.sh %D%/sweep_mpi.sh \
	%D%/bad_inputs %D%/bad_inputs.sh %D%/valgrind.sh %D%/include_graph.sh %D%/cifar.sh \
	%D%/safetensors_torch.sh %D%/provenance.sh %D%/events.sh %D%/compare.sh %D%/export.sh \
	%D%/curves.sh %D%/audit.sh

# The installed tree as a third party sees it: plugins and scenarios found with no environment,
# sdk/example built with pkg-config alone, its LwF scenario run.
installcheck-local:
	$(srcdir)/tests/installcheck.sh '$(prefix)' '$(abs_top_srcdir)'

# The acceptance figures on the real Fashion-MNIST: minutes, so not part of `make check`.
accept: all bench/bench_train$(EXEEXT) bench/bench_fisher$(EXEEXT) bench/bench_outliers$(EXEEXT)
	LETHE_BIN=host/lethe LETHE_TEST_SRCDIR=$(srcdir) \
		LETHE_BUILD_PLUGINS='$(abs_top_builddir)/plugins' $(srcdir)/tests/accept.sh

# `make valgrind`: memcheck over real runs loading every shipped plugin (about a minute; CI
# runs it, make check does not).
valgrind: all $(check_LTLIBRARIES)
	LETHE_BIN='$(abs_top_builddir)/host/lethe' \
		LETHE_TEST_PLUGINS='$(abs_top_builddir)/tests/plugins/.libs' \
		LETHE_BUILD_PLUGINS='$(abs_top_builddir)/plugins' LIBTOOL='$(LIBTOOL)' \
		$(SHELL) $(srcdir)/tests/valgrind.sh
.PHONY: accept valgrind
