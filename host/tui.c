/* SCAFFOLD: replaced by the dashboard work in progress. */
#include "tui.h"
int tui_open(struct tui **t, struct engine *e, const char *out_dir, struct error *err)
{ (void)t; (void)e; (void)out_dir; return error_set(err, "the dashboard is not built yet"); }
void tui_event(void *ctx, const struct event *ev) { (void)ctx; (void)ev; }
enum engine_request tui_poll(void *ctx, struct engine *e, size_t *task)
{ (void)ctx; (void)e; (void)task; return ENGINE_REQ_NONE; }
void tui_close(struct tui *t, int rc, const char *error) { (void)t; (void)rc; (void)error; }
