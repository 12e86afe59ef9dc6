"""A scripted OpenAI-compatible chat server for tests: stdlib only, bound to 127.0.0.1, stops by itself.

    with FakeLLM([{'content': '...'}, {'sleep': 3}, {'status': 500}]) as srv:
        client = openai.OpenAI(base_url=srv.url, api_key='x')

Each POST /v1/chat/completions takes the next item of the script (the last one repeats):
`{'content': str}` answers it; `{'sleep': s, ...}` waits `s` seconds first (capped at 10: a client timeout);
`{'status': code}` answers an HTTP error. GET /v1/models lists one model. Requests are kept in `srv.requests`.
The server shuts down after `lifetime` seconds even if the test forgets it.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self, script, model='fake-coder', lifetime=120.0):
        self.script, self.model, self.lifetime = list(script), model, lifetime
        self.requests, self.lock, self.i = [], threading.Lock(), 0
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/v1'

    def next_item(self):
        with self.lock:
            item = self.script[min(self.i, len(self.script) - 1)] if self.script else {'content': ''}
            self.i += 1
            return item

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                try:
                    self.send_response(code)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError): pass   # the client gave up (timeout)

            def do_GET(self):
                if self.path.rstrip('/').endswith('/models'):
                    self._send(200, {'object': 'list', 'data': [{'id': srv.model, 'object': 'model', 'owned_by': 'test'}]})
                else: self._send(404, {'error': {'message': 'not found'}})

            def do_POST(self):
                n = int(self.headers.get('Content-Length') or 0)
                req = json.loads(self.rfile.read(n) or b'{}')
                if not self.path.rstrip('/').endswith('/chat/completions'):
                    return self._send(404, {'error': {'message': 'not found'}})
                item = srv.next_item()
                with srv.lock: srv.requests.append(req)
                if item.get('sleep'): time.sleep(min(float(item['sleep']), 10.0))
                if item.get('status'):
                    return self._send(int(item['status']), {'error': {'message': f"scripted {item['status']}", 'type': 'server_error'}})
                content = item.get('content', '')
                words = sum(len(m.get('content') or '') for m in req.get('messages', [])) // 4
                self._send(200, {'id': f'chatcmpl-{srv.i}', 'object': 'chat.completion', 'created': int(time.time()),
                                 'model': req.get('model', srv.model),
                                 'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': content},
                                              'finish_reason': 'stop'}],
                                 'usage': {'prompt_tokens': words, 'completion_tokens': len(content) // 4,
                                           'total_tokens': words + len(content) // 4}})
        return Handler

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self):
        self.httpd.shutdown(); self.httpd.server_close()
        self._timer.cancel()

    def __enter__(self): return self.start()
    def __exit__(self, *exc): self.stop()
