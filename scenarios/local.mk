# The shipped scenarios, installed where a bare name finds them (lethe run quickstart).
dist_scenario_DATA = \
	%D%/permuted-fashion-der.ini \
	%D%/permuted-fashion-derpp.ini \
	%D%/permuted-fashion-er_ace.ini \
	%D%/permuted-fashion-ewc.ini \
	%D%/permuted-fashion-joint.ini \
	%D%/permuted-fashion-l2.ini \
	%D%/permuted-fashion-lwf.ini \
	%D%/permuted-fashion-naive.ini \
	%D%/permuted-fashion-rehearsal.ini \
	%D%/permuted-fashion-si.ini \
	%D%/quickstart.ini \
	%D%/split-fashion-der-til.ini \
	%D%/split-fashion-der.ini \
	%D%/split-fashion-derpp-til.ini \
	%D%/split-fashion-derpp.ini \
	%D%/split-fashion-er_ace-til.ini \
	%D%/split-fashion-er_ace.ini \
	%D%/split-fashion-ewc-til.ini \
	%D%/split-fashion-ewc.ini \
	%D%/split-fashion-joint-til.ini \
	%D%/split-fashion-joint.ini \
	%D%/split-fashion-l2-ovor.ini \
	%D%/split-fashion-l2-til.ini \
	%D%/split-fashion-l2.ini \
	%D%/split-fashion-lwf-til.ini \
	%D%/split-fashion-lwf.ini \
	%D%/split-fashion-naive-til.ini \
	%D%/split-fashion-naive.ini \
	%D%/split-fashion-ovor.ini \
	%D%/split-fashion-rehearsal-til.ini \
	%D%/split-fashion-rehearsal.ini \
	%D%/split-fashion-si-til.ini \
	%D%/split-fashion-si.ini \
	%D%/unlearn-class-repulsion.ini \
	%D%/unlearn-class-sfd.ini \
	%D%/unlearn-random-repulsion.ini
