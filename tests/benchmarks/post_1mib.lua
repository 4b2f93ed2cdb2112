-- wrk script: POST a 1 MiB body to /echo (the server answers with the same bytes).
wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
