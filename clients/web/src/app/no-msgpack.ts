// The chat app speaks JSON frames only, so the SDK's MessagePack codec (`@msgpack/msgpack`) is
// left out of the browser bundle: build.mjs and tsconfig.json point that import here. The SDK
// calls it only for binary frames, which the server sends only to a client that wrote MessagePack.

const absent = (): never => {
  throw new Error('MessagePack is not part of the web app build (it uses JSON frames)');
};

export function encode(_value: unknown, _options?: { ignoreUndefined?: boolean }): Uint8Array {
  return absent();
}

export function decode(_data: ArrayLike<number> | ArrayBufferView | ArrayBuffer): unknown {
  return absent();
}
