# data: data sets (idx files, plain or .gz; CIFAR's binary files; synthetic clusters) and the
# tasks cut from them.
host_liblethe_la_SOURCES += \
	%D%/dataset.c %D%/cifar.c %D%/synth.c %D%/dataset.h %D%/dataset_impl.h \
	%D%/gz.c %D%/gz.h \
	%D%/tasks.c %D%/tasks.h
