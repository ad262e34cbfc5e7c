# The shipped scenarios, installed where a bare name finds them (lethe run quickstart).
dist_scenario_DATA = \
	%D%/permuted-fashion-ewc.ini \
	%D%/permuted-fashion-joint.ini \
	%D%/permuted-fashion-l2.ini \
	%D%/permuted-fashion-naive.ini \
	%D%/permuted-fashion-rehearsal.ini \
	%D%/quickstart.ini \
	%D%/split-fashion-cnn-ewc.ini \
	%D%/split-fashion-cnn-forget.ini \
	%D%/split-fashion-cnn-joint.ini \
	%D%/split-fashion-cnn-l2.ini \
	%D%/split-fashion-cnn-naive.ini \
	%D%/split-fashion-cnn-ovor.ini \
	%D%/split-fashion-cnn-rehearsal.ini \
	%D%/split-fashion-ewc-til.ini \
	%D%/split-fashion-ewc.ini \
	%D%/split-fashion-joint-til.ini \
	%D%/split-fashion-joint.ini \
	%D%/split-fashion-l2-ovor.ini \
	%D%/split-fashion-l2-til.ini \
	%D%/split-fashion-l2.ini \
	%D%/split-fashion-naive-til.ini \
	%D%/split-fashion-naive.ini \
	%D%/split-fashion-ovor.ini \
	%D%/split-fashion-rehearsal-til.ini \
	%D%/split-fashion-rehearsal.ini \
	%D%/unlearn-class-repulsion.ini \
	%D%/unlearn-class-sfd.ini \
	%D%/unlearn-random-repulsion.ini
