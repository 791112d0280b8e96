/*
 * face-api's expression network on raw RGB images, for tools/peer.py (expression-recognizer
 * peer-faceapi). Offline: the weights come from the npm package, tfjs runs on its WASM backend
 * loaded from the local node_modules (no tfjs-node, no download).
 *
 * stdin: records, each a uint32 little-endian height, a uint32 width, then height x width x 3
 * bytes of RGB, row-major.
 * stdout: one JSON line with the versions and class names, then one JSON line per record, in order:
 *   faces mode:  {"p": [7 probabilities in the order of "classes"]}
 *     the face as given; face-api pads it to a square and resizes it to 112x112 itself.
 *   detect mode: {"box": [x, y, w, h], "score": s, "p": [...]} for the largest face
 *     SSD-MobileNet v1 finds (face-api's defaults: minConfidence 0.5), {"box": null} for none.
 *
 * Usage: node faceapi_peer.js faces|detect [batch]
 */
'use strict';

const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const MODEL_DIR = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
const WASM_DIR = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.on('error', reject);
  });
}

function* records(buffer) {
  let offset = 0;
  while (offset < buffer.length) {
    if (offset + 8 > buffer.length) throw new Error(`truncated record header at byte ${offset}`);
    const height = buffer.readUInt32LE(offset);
    const width = buffer.readUInt32LE(offset + 4);
    const size = height * width * 3;
    offset += 8;
    if (!height || !width || offset + size > buffer.length) {
      throw new Error(`bad record at byte ${offset - 8}: ${height}x${width}, ${buffer.length - offset} bytes left`);
    }
    yield { height, width, data: buffer.subarray(offset, offset + size) };
    offset += size;
  }
}

const image = (r) => tf.tensor3d(new Uint8Array(r.data), [r.height, r.width, 3], 'int32');
const round = (values) => Array.from(values, (v) => Number(v.toFixed(6)));
const classes = faceapi.FACE_EXPRESSION_LABELS;

async function faces(all, batch) {
  for (let start = 0; start < all.length; start += batch) {
    const inputs = all.slice(start, start + batch).map(image);
    const results = await faceapi.nets.faceExpressionNet.predictExpressions(inputs);
    tf.dispose(inputs);
    for (const e of results) console.log(JSON.stringify({ p: round(classes.map((c) => e[c])) }));
  }
}

async function detect(all) {
  const options = new faceapi.SsdMobilenetv1Options();
  for (const r of all) {
    const input = image(r);
    const found = await faceapi.detectAllFaces(input, options).withFaceExpressions();
    tf.dispose(input);
    if (!found.length) {
      console.log(JSON.stringify({ box: null }));
      continue;
    }
    const area = (f) => f.detection.box.width * f.detection.box.height;
    const face = found.reduce((a, b) => (area(b) > area(a) ? b : a));
    const { x, y, width, height } = face.detection.box;
    console.log(JSON.stringify({
      box: round([x, y, width, height]),
      score: Number(face.detection.score.toFixed(6)),
      p: round(classes.map((c) => face.expressions[c])),
    }));
  }
}

async function main() {
  const mode = process.argv[2];
  const batch = Number(process.argv[3] || 32);
  if (!['faces', 'detect'].includes(mode) || !(batch >= 1)) {
    throw new Error('usage: node faceapi_peer.js faces|detect [batch]');
  }
  wasm.setWasmPaths(WASM_DIR);
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.faceExpressionNet.loadFromDisk(MODEL_DIR);
  if (mode === 'detect') await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODEL_DIR);
  console.log(JSON.stringify({
    faceapi: faceapi.version, tfjs: tf.version_core, backend: tf.getBackend(), classes,
  }));
  const all = Array.from(records(await readStdin()));
  await (mode === 'faces' ? faces(all, batch) : detect(all));
}

main().catch((error) => {
  console.error(`faceapi_peer: ${error.message}`);
  process.exit(1);
});
