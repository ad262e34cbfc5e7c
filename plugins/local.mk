# The shipped plugins: libtool modules built against sdk/ alone (no host header is on their
# path), exporting lethe_entry and nothing else.
PLUGIN_CPPFLAGS = -I$(top_srcdir)/sdk -fvisibility=hidden
PLUGIN_LDFLAGS = -module -avoid-version -shared -export-symbols-regex '^lethe_entry$$' -lm
plugin_LTLIBRARIES = %D%/ewc/ewc.la %D%/l2/l2.la %D%/rehearsal/rehearsal.la %D%/ovor/ovor.la \
	%D%/sfd/sfd.la %D%/repulsion/repulsion.la %D%/si/si.la %D%/lwf/lwf.la \
	%D%/er_ace/er_ace.la %D%/der/der.la %D%/derpp/derpp.la %D%/agem/agem.la \
	%D%/gem/gem.la %D%/gdumb/gdumb.la %D%/mas/mas.la %D%/icarl/icarl.la \
	%D%/bic/bic.la \
	%D%/neggrad/neggrad.la %D%/l1sparse/l1sparse.la %D%/scrub/scrub.la %D%/salun/salun.la \
	%D%/badteacher/badteacher.la %D%/ssd/ssd.la
plugins_ewc_ewc_la_SOURCES = %D%/ewc/ewc.c %D%/ewc/fisher.c %D%/ewc/fisher.h
plugins_ewc_ewc_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_ewc_ewc_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_l2_l2_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_l2_l2_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_rehearsal_rehearsal_la_SOURCES = %D%/rehearsal/rehearsal.c %D%/rehearsal/schedule.c \
	%D%/rehearsal/schedule.h
plugins_rehearsal_rehearsal_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_rehearsal_rehearsal_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_ovor_ovor_la_SOURCES = %D%/ovor/ovor.c %D%/ovor/outliers.c %D%/ovor/outliers.h
plugins_ovor_ovor_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_ovor_ovor_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_sfd_sfd_la_SOURCES = %D%/sfd/sfd.c %D%/sfd/distill.c %D%/sfd/distill.h \
	%D%/sfd/invert.c %D%/sfd/invert.h
plugins_sfd_sfd_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_sfd_sfd_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_repulsion_repulsion_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_repulsion_repulsion_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_si_si_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_si_si_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_mas_mas_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_mas_mas_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_lwf_lwf_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_lwf_lwf_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# The replay memory er_ace, der and derpp share (a reservoir of raw samples, and logits).
REPLAY_SOURCES = %D%/common/reservoir.c %D%/common/reservoir.h %D%/common/xent.h
plugins_er_ace_er_ace_la_SOURCES = %D%/er_ace/er_ace.c $(REPLAY_SOURCES)
plugins_er_ace_er_ace_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_er_ace_er_ace_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# der and derpp: one source, derpp with DER_PLUS.
plugins_der_der_la_SOURCES = %D%/der/der.c $(REPLAY_SOURCES)
plugins_der_der_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_der_der_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_derpp_derpp_la_SOURCES = %D%/der/der.c $(REPLAY_SOURCES)
plugins_derpp_derpp_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) -DDER_PLUS
plugins_derpp_derpp_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_agem_agem_la_SOURCES = %D%/agem/agem.c $(REPLAY_SOURCES)
plugins_agem_agem_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_agem_agem_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_gem_gem_la_SOURCES = %D%/gem/gem.c %D%/gem/qp.c %D%/gem/qp.h
plugins_gem_gem_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_gem_gem_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_gdumb_gdumb_la_SOURCES = %D%/gdumb/gdumb.c %D%/common/xent.h
plugins_gdumb_gdumb_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_gdumb_gdumb_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# The unlearning methods of issue 19 share a forget request's data (D_f, D_r, batches) and
# the distillation loss.
UNLEARN_SOURCES = %D%/common/forget_set.c %D%/common/forget_set.h %D%/common/xent.h \
	%D%/common/kl.h %D%/common/repair.c %D%/common/repair.h
plugins_neggrad_neggrad_la_SOURCES = %D%/neggrad/neggrad.c $(UNLEARN_SOURCES)
plugins_neggrad_neggrad_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_neggrad_neggrad_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_l1sparse_l1sparse_la_SOURCES = %D%/l1sparse/l1sparse.c $(UNLEARN_SOURCES)
plugins_l1sparse_l1sparse_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_l1sparse_l1sparse_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_scrub_scrub_la_SOURCES = %D%/scrub/scrub.c $(UNLEARN_SOURCES)
plugins_scrub_scrub_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_scrub_scrub_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_salun_salun_la_SOURCES = %D%/salun/salun.c $(UNLEARN_SOURCES)
plugins_salun_salun_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_salun_salun_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_badteacher_badteacher_la_SOURCES = %D%/badteacher/badteacher.c $(UNLEARN_SOURCES)
plugins_badteacher_badteacher_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_badteacher_badteacher_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_ssd_ssd_la_SOURCES = %D%/ssd/ssd.c $(UNLEARN_SOURCES)
plugins_ssd_ssd_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_ssd_ssd_la_LDFLAGS = $(PLUGIN_LDFLAGS)
# icarl and bic: herding exemplar sets, class-balanced.
EXEMPLAR_SOURCES = %D%/common/exemplars.c %D%/common/exemplars.h
plugins_icarl_icarl_la_SOURCES = %D%/icarl/icarl.c $(EXEMPLAR_SOURCES)
plugins_icarl_icarl_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_icarl_icarl_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_bic_bic_la_SOURCES = %D%/bic/bic.c %D%/bic/correction.c %D%/bic/correction.h \
	$(EXEMPLAR_SOURCES) %D%/common/xent.h
plugins_bic_bic_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_bic_bic_la_LDFLAGS = $(PLUGIN_LDFLAGS)
