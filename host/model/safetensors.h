/* A model's weights in and out as safetensors (github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header {NAME: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}, then the tensors' bytes, little-endian, row-major.
 *
 * Names and layouts are those of PyTorch's state_dict for the same architecture built as an
 * nn.Sequential with one module per description item, so PyTorch loads the file with
 * load_state_dict(strict=True) (bench/torch/safetensors_twin.py):
 *   conv    I.weight [Cout, Cin, k, k], I.bias [Cout] (unless nobias)
 *   dense   I.weight [out, in], I.bias [out]; in is the flattened input, C x H x W in that
 *           order (NCHW), as nn.Flatten gives it
 *   bn      I.weight, I.bias, I.running_mean, I.running_var [C] (F32),
 *           I.num_batches_tracked [] (I64)
 *   res     I.conv1, I.bn1, I.conv2, I.bn2 as above and, with a projection shortcut,
 *           I.shortcut.0 (the 1x1 conv) and I.shortcut.1 (its bn): Mammoth's BasicBlock
 * where I is the item's index from 0; relu, pools, gap and flatten hold nothing. lethe's layouts
 * are PyTorch's (model/model.h), so every tensor is a copy of the model's floats. lethe keeps
 * no batch count (its momentum is fixed): num_batches_tracked is written 0, and read only to be
 * checked for its dtype and shape.
 *
 * The metadata: "format": "lethe", "layers": the description (model_desc_render), "input":
 * "CxHxW", "classes": the class names as a JSON array of strings. Reading ignores it: the
 * tensors, by name, dtype and shape, decide whether a file fits a model. */
#ifndef LETHE_MODEL_SAFETENSORS_H
#define LETHE_MODEL_SAFETENSORS_H

#include <stddef.h>

#include "model/model.h"
#include "util/error.h"

#define SAFETENSORS_FORMAT "lethe"
/* The largest header read: far above any model's (ResNet-18's is under 20 kB), and the
 * reference implementation's own limit. */
#define SAFETENSORS_HEADER_MAX (100u << 20)

/* Writes m's parameters and batch norm statistics to path, replaced whole (files_replace).
 * classes: m->classes names for the metadata, or NULL for the labels "0", "1", ... -1 with
 * the error naming path. */
int safetensors_write(const struct model *m, const char *const *classes, const char *path,
		      struct error *e);

/* Reads path into m, built for the architecture the file holds: every tensor checked first
 * (name, dtype, shape, finite values, variances not negative, the offsets covering the data
 * exactly), then m's parameters and running statistics replaced, all or none. -1 with one line
 * naming path and, where one is at fault, the tensor ("PATH: tensor 3.weight has shape [64, 32,
 * 3, 3], the model wants [64, 16, 3, 3]"). */
int safetensors_read(struct model *m, const char *path, struct error *e);

/* The metadata's value for key in the file at path: 1 with *value malloc'd, 0 when the file
 * has none (a file from elsewhere may hold no metadata), -1 with the error naming path. */
int safetensors_metadata(const char *path, const char *key, char **value, struct error *e);

#endif
