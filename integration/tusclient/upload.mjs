// A command-line tus client: tus-js-client in Node uploading one file to a
// caddy-valet gateway with a valet token. Each request carries the token in
// the query parameter vk (a wrapper around the library's HTTP stack adds it),
// so the upload URL the client keeps never holds the token.
//
//   node upload.mjs --endpoint URL --token T --file PATH
//        [--upload-url URL] [--stop-after BYTES] [--chunk BYTES]
//
// Prints one JSON line per event: {"event":"created","url":...},
// {"event":"stopped","sent":N}, {"event":"done","url":...} or
// {"event":"error","message":...} (exit status 1).
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import * as tus from 'tus-js-client'

const { values: a } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    token: { type: 'string' },
    file: { type: 'string' },
    'upload-url': { type: 'string' },
    'stop-after': { type: 'string' },
    chunk: { type: 'string', default: String(1 << 20) },
  },
})
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const inner = new tus.DefaultHttpStack({})
const withToken = (u) => {
  const url = new URL(u)
  url.searchParams.set('vk', a.token)
  return url.toString()
}
const httpStack = {
  createRequest: (method, url) => inner.createRequest(method, withToken(url)),
  getName: () => 'valet-' + inner.getName(),
}

const data = readFileSync(a.file)
const stopAfter = a['stop-after'] ? Number(a['stop-after']) : Infinity
let stopped = false
const upload = new tus.Upload(data, {
  endpoint: a.endpoint,
  uploadUrl: a['upload-url'] || null,
  chunkSize: Number(a.chunk),
  retryDelays: [0, 500, 1000],
  metadata: { filename: a.file.split('/').pop(), filetype: 'application/octet-stream' },
  httpStack,
  onUploadUrlAvailable: () => say({ event: 'created', url: upload.url }),
  onProgress: (sent) => {
    if (sent >= stopAfter && !stopped) {
      stopped = true
      upload.abort(false).then(() => say({ event: 'stopped', sent }))
    }
  },
  onSuccess: () => say({ event: 'done', url: upload.url }),
  onError: (err) => {
    say({ event: 'error', message: String(err) })
    process.exitCode = 1
  },
})
upload.start()
