# The manual pages: lethe(1) from a template; lethe-scenario(5) printed by a generator from the
# declaration tables the scenario parser checks files against, so it cannot drift;
# lethe-plugin(7) converted from docs/plugin-guide.md, one text for both.
noinst_PROGRAMS += %D%/gen_scenario_man %D%/md2man
man_gen_scenario_man_LDADD = host/liblethe.la
man_md2man_LDADD =
nodist_man_MANS = %D%/lethe.1 %D%/lethe-scenario.5 %D%/lethe-plugin.7
CLEANFILES += $(nodist_man_MANS) %D%/*.tmp
EXTRA_DIST += %D%/lethe.1.in
# The pages' date: today's, or SOURCE_DATE_EPOCH's for a reproducible build.
MAN_DATE = date -u $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH} +%Y-%m-%d

# [@]: config.status would replace a plain @VERSION@ here.
%D%/lethe.1: %D%/lethe.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && date=`$(MAN_DATE)` && \
	$(SED) -e "s|[@]MAN_DATE[@]|$$date|g" -e 's|[@]VERSION[@]|$(VERSION)|g' \
		-e 's|[@]PLUGINDIR[@]|$(plugindir)|g' -e 's|[@]SCENARIODIR[@]|$(scenariodir)|g' \
		$(srcdir)/man/lethe.1.in >$@.tmp && mv $@.tmp $@

%D%/lethe-scenario.5: %D%/gen_scenario_man$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) man && date=`$(MAN_DATE)` && \
	man/gen_scenario_man$(EXEEXT) --page "$$date" >$@.tmp && mv $@.tmp $@

%D%/lethe-plugin.7: %D%/md2man$(EXEEXT) $(srcdir)/docs/plugin-guide.md
	$(AM_V_GEN)$(MKDIR_P) man && date=`$(MAN_DATE)` && \
	man/md2man$(EXEEXT) lethe-plugin 7 "$$date" "lethe $(VERSION)" \
		<$(srcdir)/docs/plugin-guide.md >$@.tmp && mv $@.tmp $@
