"""One mechanism for every long task: the jobs table, executors, workers, progress events."""
