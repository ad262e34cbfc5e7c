"""The interface of a strategy: lethe's plugin hooks, in PyTorch terms. See bench/torch/README.md.

Per training batch the protocol calls, in the order of [scenario] plugins:
  on_batch(batch)                  may append rows (batch.append) before the forward pass
  on_logits(batch, logits, loss)   returns the loss (the same tensor or one with terms added)
  penalty(batch)                   a scalar tensor added to the loss, or None
  -- loss.backward() --
  on_gradient(batch)               may change p.grad of the model's parameters
  -- optimiser step --
  after_batch(batch)
and around them before_task(task), before_epoch(task, epoch), after_task(task) (after the
task's last batch, before its evaluation), and at evaluation predict(x, task), whose scores
replace the model's logits when it returns a tensor (iCaRL's nearest mean, BiC's correction).
"""


class Strategy:
    name = ""      # its [section] and the name in [scenario] plugins
    summary = ""   # one line for cl.py --list
    PARAMS = ()    # params.Param tables, with lethe's plugin's names and defaults

    def __init__(self, run, values):
        """run: the protocol.Run (model, tasks, data, settings and services); values: this
        strategy's parameters, checked against PARAMS. Refuse settings here (TwinError)."""
        self.run, self.values = run, values

    def before_task(self, task):
        pass

    def before_epoch(self, task, epoch):
        pass

    def on_batch(self, batch):
        pass

    def on_logits(self, batch, logits, loss):
        return loss

    def penalty(self, batch):
        return None

    def on_gradient(self, batch):
        pass

    def after_batch(self, batch):
        pass

    def after_task(self, task):
        pass

    def predict(self, x, task):
        return None

    def forget(self, ids):
        """A forget request's samples (int64 ids, sorted) left the data: drop any copy kept.
        The strategies holding samples override it; the others keep nothing."""

    def figures(self):
        """Figures for the JSON's "plugin_metrics" (as lethe's services' metrics)."""
        return {}
