/* lethe SDK: everything a plugin needs. */
#ifndef LETHE_H
#define LETHE_H

#include "host.h"
#include "param.h"
#include "plugin.h"
#include "stream.h"
#include "version.h"

#endif
