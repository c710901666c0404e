/**
 * A cheap check of a model folder's files before a command loads them, so that a corrupt file is reported
 * by name (exit 2) instead of surfacing as an internal error from deep inside the runtime: the JSON files
 * must parse to objects, and every `.onnx` file must be a complete protobuf message at the top level (each
 * field's length fits the file; a truncated file fails this without reading the graph).
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ValidationError } from '../core/errors.js';

/** JSON files of a transformers.js model folder that are read when present (config.json is required). */
const JSON_FILES = ['config.json', 'generation_config.json', 'preprocessor_config.json', 'processor_config.json', 'tokenizer.json', 'tokenizer_config.json'];

/**
 * Checks the files of a model folder: `config.json` present and a JSON object, the other JSON files a
 * transformers.js model reads (when present) JSON objects, every `.onnx` file complete.
 * @param field the flag named in errors (default `--model`).
 * @throws ValidationError naming `field` and the file.
 */
export function checkModelFiles(dir: string, field = '--model'): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ValidationError(field, dir, 'folder not found');
  if (!existsSync(join(dir, 'config.json'))) throw new ValidationError(field, dir, 'is not a model folder (no config.json)');
  for (const name of JSON_FILES) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new ValidationError(field, path, `${name} is not valid JSON (${(error as Error).message.split('\n')[0]})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new ValidationError(field, path, `${name} must hold a JSON object (it holds ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`);
    }
  }
  for (const path of onnxFiles(dir)) {
    const problem = protobufProblem(path);
    if (problem) throw new ValidationError(field, path, `${relative(dir, path)} is not a complete ONNX model (${problem})`);
  }
}

function onnxFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...onnxFiles(path));
    else if (entry.name.endsWith('.onnx')) found.push(path);
  }
  return found.sort();
}

/**
 * Walks the top-level fields of a protobuf file without reading their contents; returns what is wrong, or
 * undefined when every field is well formed and the last one ends exactly at the end of the file.
 */
export function protobufProblem(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 'the file is empty';
    const buffer = Buffer.alloc(20);
    let position = 0;
    const varint = (): number | undefined => {
      const read = readSync(fd, buffer, 0, 10, position);
      let value = 0;
      let scale = 1;
      for (let i = 0; i < read; i++) {
        value += (buffer[i]! & 0x7f) * scale;
        scale *= 128;
        if ((buffer[i]! & 0x80) === 0) {
          position += i + 1;
          return value;
        }
      }
      return undefined;
    };
    let fields = 0;
    while (position < size) {
      const at = position;
      const key = varint();
      if (key === undefined) return `bad field key at byte ${at}`;
      const wire = key % 8;
      if (key < 8) return `bad field number at byte ${at}`;
      if (wire === 0) {
        if (varint() === undefined) return `cut varint at byte ${at}`;
      } else if (wire === 1) position += 8;
      else if (wire === 5) position += 4;
      else if (wire === 2) {
        const length = varint();
        if (length === undefined) return `cut length at byte ${at}`;
        position += length;
      } else return `unexpected wire type ${wire} at byte ${at}`;
      if (position > size) return `truncated: a field starting at byte ${at} needs ${position - size} more bytes than the file's ${size}`;
      fields++;
    }
    return fields === 0 ? 'no fields' : undefined;
  } finally {
    closeSync(fd);
  }
}
