-- wrk script for the baseline cross-check (docs/benchmarks.md, issue 16): POSTs a JSON
-- push of about 4 KB to the raw baseline, which stops when its stdin closes:
--   sleep 60 | herald-bench serve-baseline --listen 127.0.0.1:18080 &
--   wrk -t2 -c32 -d10s -s crates/herald-bench/wrk/post.lua http://127.0.0.1:18080/hooks/github
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
local commits = {}
for i = 1, 24 do
  commits[i] = string.format(
    '{"id":"%040x","message":"commit message number %d with some words, repeated to fill","author":{"name":"octocat","email":"octocat@example.com"}}',
    i, i)
end
wrk.body = '{"ref":"refs/heads/main","commits":[' .. table.concat(commits, ",") .. ']}'
