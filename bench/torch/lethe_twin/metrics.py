"""The continual-learning figures of /work/shared/METHODS.md on the accuracy matrix R (row i:
after step i, T x T) and the untrained row b."""


def summarise(R, b):
    n = len(R)
    last = R[n - 1]
    out = {"average_accuracy": sum(last[:n]) / n}
    if n < 2:
        out.update(bwt=0.0, fwt=0.0, forgetting=0.0, forgetting_last_minus_first=0.0)
        return out
    out["bwt"] = sum(last[j] - R[j][j] for j in range(n - 1)) / (n - 1)
    out["fwt"] = sum(R[j - 1][j] - b[j] for j in range(1, n)) / (n - 1)
    # max over every earlier row l < n - 1, those before task j was learnt included
    per = [max(R[l][j] for l in range(n - 1)) - last[j] for j in range(n - 1)]
    out["forgetting"] = sum(per) / (n - 1)
    out["forgetting_per_task"] = per + [0.0]
    out["forgetting_last_minus_first"] = sum(R[j][j] - last[j] for j in range(n - 1)) / (n - 1)
    return out
