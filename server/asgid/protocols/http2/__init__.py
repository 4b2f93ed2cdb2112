"""HTTP/2 over h2: protocol, event handlers, streams, flow, guard, headers, errors, RFC 8441."""
