# model: the network, its loss and its optimiser, and the layers of models beyond the MLP
# (convolution, pooling, batch norm, element-wise sums).
host_liblethe_la_SOURCES += %D%/mlp.c %D%/loss.c %D%/sgd.c %D%/mlp.h \
	%D%/conv.c %D%/conv.h \
	%D%/pool.c %D%/pool.h \
	%D%/norm.c %D%/norm.h \
	%D%/elementwise.c %D%/elementwise.h
