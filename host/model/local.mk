# model: the network, its loss and its optimiser, and the layers of models beyond the MLP
# (convolution, pooling, batch norm, element-wise sums).
host_liblethe_la_SOURCES += %D%/loss.c %D%/loss.h %D%/sgd.c %D%/sgd.h \
	%D%/conv.c %D%/conv.h %D%/fuse.c %D%/fuse.h \
	%D%/pool.c %D%/pool.h \
	%D%/norm.c %D%/norm.h \
	%D%/elementwise.c %D%/elementwise.h
# The model as a graph of those layers: descriptions, building, passes, threads.
host_liblethe_la_SOURCES += %D%/model.c %D%/model.h %D%/model_impl.h %D%/model_desc.c \
	%D%/model_graph.c %D%/model_init.c %D%/model_stats.c %D%/parallel.c %D%/parallel.h
host_liblethe_la_LIBADD += -lpthread
# Weights in and out as safetensors, named as PyTorch's nn.Sequential would name them.
host_liblethe_la_SOURCES += %D%/safetensors.c %D%/safetensors.h
