-- wrk script for `cargo xtask bench`: plain requests, one summary line at the end that the
-- command parses (requests/s, p50 and p99 in milliseconds, errors and non-2xx answers).
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.1f p50 %.3f p99 %.3f errors %d non2xx %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
