# core: the engine that learns and forgets, and what it is made of: plugins and the services
# they get, unlearning's measures and references, checkpoints, the memory estimate.
host_liblethe_la_SOURCES += \
	%D%/engine.c %D%/engine_forget.c %D%/engine_plugins.c %D%/engine_checkpoint.c \
	%D%/engine.h %D%/engine_impl.h \
	%D%/plugin_loader.c %D%/plugin_loader.h \
	%D%/services.c %D%/services.h \
	%D%/unlearn.c %D%/unlearn.h \
	%D%/evidence.c %D%/evidence.h \
	%D%/checkpoint.c %D%/checkpoint.h \
	%D%/memory.c %D%/memory.h \
	%D%/run_model.c %D%/run_model.h
