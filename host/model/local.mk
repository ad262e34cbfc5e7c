# model: the network, its loss and its optimiser.
host_liblethe_la_SOURCES += %D%/mlp.c %D%/loss.c %D%/sgd.c %D%/mlp.h
