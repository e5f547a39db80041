// Runs one execution of the synthesized encode-job state machine under
// aws-local-stepfunctions, routing every Task state to the Go process over
// loopback HTTP. Prints one JSON line: {status, output} or {status, error, cause}.
// argv: definition.json input-json. Env: FB_SFN_MODULE (path of the
// library's ESM build), FB_TASK_URL, FB_TASK_TOKEN, FB_EXECUTION.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const [defPath, input] = process.argv.slice(2);
const { StateMachine } = await import(pathToFileURL(process.env.FB_SFN_MODULE).href);
const definition = JSON.parse(readFileSync(defPath, 'utf8'));

function post(state, body) {
  const url = new URL(`${process.env.FB_TASK_URL}/task/${encodeURIComponent(state)}`);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: {
        'authorization': `Bearer ${process.env.FB_TASK_TOKEN}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(data),
        'x-execution': process.env.FB_EXECUTION,
      },
      timeout: 0,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = { error: 'States.TaskFailed', cause: text.slice(0, 500) }; }
        if (res.statusCode === 200) return resolve(parsed);
        const err = new Error(parsed.cause || `task ${state} failed`);
        err.name = parsed.error || 'States.TaskFailed';
        reject(err);
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

const handlers = {};
for (const [name, state] of Object.entries(definition.States)) {
  if (state.Type === 'Task') handlers[name] = (taskInput) => post(name, taskInput);
}

const machine = new StateMachine(definition, { validationOptions: { checkArn: false, checkPaths: false } });
try {
  const output = await machine.run(JSON.parse(input), { overrides: { taskResourceLocalHandlers: handlers } }).result;
  console.log(JSON.stringify({ status: 'SUCCEEDED', output }));
} catch (e) {
  console.log(JSON.stringify({ status: 'FAILED', error: e.error ?? e.name, cause: e.cause ?? e.message }));
}
