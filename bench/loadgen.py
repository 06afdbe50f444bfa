#!/usr/bin/env python3
"""Closed-loop HTTP load: N clients, each on one keep-alive connection, push
files through a service and download the result; prints JSON figures.

  loadgen.py pixelmill URL PLUGIN FILES... [--clients 16] [--param k=v]...
  loadgen.py fastapi   URL       FILES... [--clients 16]

pixelmill: POST multipart to /v1/jobs?wait=60 (one round trip until the job
ends), then GET every output. fastapi: POST multipart, the answer is the image.
"""
import argparse, http.client, json, os, sys, threading, time, uuid
from urllib.parse import urlparse


def multipart(fields, filename, data):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b'\r\n')
    parts.append(f'--{boundary}--\r\n'.encode())
    return b''.join(parts), f'multipart/form-data; boundary={boundary}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['pixelmill', 'fastapi'])
    ap.add_argument('url')
    ap.add_argument('rest', nargs='+')
    ap.add_argument('--clients', type=int, default=16)
    ap.add_argument('--param', action='append', default=[])
    args = ap.parse_args()
    if args.mode == 'pixelmill':
        plugin, files = args.rest[0], args.rest[1:]
    else:
        plugin, files = None, args.rest
    params = dict(p.split('=', 1) for p in args.param)
    u = urlparse(args.url)
    payloads = [(os.path.basename(f), open(f, 'rb').read()) for f in files]
    queue = list(range(len(payloads)))
    lock = threading.Lock()
    latencies, errors, out_bytes = [], [], [0]

    def client():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                i = queue.pop()
            name, data = payloads[i]
            t0 = time.perf_counter()
            try:
                if args.mode == 'pixelmill':
                    body, ctype = multipart({'plugin': plugin, **params}, name, data)
                    conn.request('POST', '/v1/jobs?wait=60', body, {'Content-Type': ctype})
                    r = conn.getresponse()
                    job = json.loads(r.read())
                    if r.status not in (200, 202) or job.get('state') != 'succeeded':
                        raise RuntimeError(f'{r.status} {job.get("state")} {job.get("error")}')
                    got = 0
                    for o in job['outputs']:
                        conn.request('GET', o['url'])
                        rr = conn.getresponse()
                        got += len(rr.read())
                        if rr.status != 200:
                            raise RuntimeError(f'output {rr.status}')
                else:
                    body, ctype = multipart(params, name, data)
                    conn.request('POST', '/thumbnail', body, {'Content-Type': ctype})
                    r = conn.getresponse()
                    got = len(r.read())
                    if r.status != 200:
                        raise RuntimeError(f'{r.status}')
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    out_bytes[0] += got
            except Exception as e:  # keep going; count it
                with lock:
                    errors.append(str(e))
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    lat = sorted(latencies)
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0
    print(json.dumps({'done': len(lat), 'errors': len(errors), 'first_error': errors[0] if errors else None,
                      'seconds': round(elapsed, 3), 'per_second': round(len(lat) / elapsed, 1),
                      'p50_ms': round(pick(0.5), 1), 'p99_ms': round(pick(0.99), 1), 'output_bytes': out_bytes[0]}))


if __name__ == '__main__':
    main()
