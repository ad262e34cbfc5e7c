# The SDK: the installed headers a plugin is written against, and its pkg-config file.
lethe_sdkdir = $(includedir)/lethe
lethe_sdk_HEADERS = %D%/lethe/lethe.h %D%/lethe/version.h %D%/lethe/param.h \
	%D%/lethe/stream.h %D%/lethe/host.h %D%/lethe/plugin.h %D%/lethe/util.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = %D%/lethe-sdk.pc
EXTRA_DIST += %D%/example
