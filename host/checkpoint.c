/* SCAFFOLD: replaced by the checkpoint work in progress. */
#include "engine.h"
int engine_resume(struct engine *e, const char *dir, struct error *err)
{ (void)e; return error_set(err, "%s: checkpoints are not built yet", dir); }
