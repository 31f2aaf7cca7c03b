// The built-in prototypes and functions the codecs use, captured once when the module loads.
// The walk, its refusal messages and the typed codec's revival all read them, so they live in
// one place.

export const objectProto = Object.prototype;
export const arrayProto = Array.prototype;
export const mapProto = Map.prototype;
export const setProto = Set.prototype;
export const dateProto = Date.prototype;
export const getPrototypeOf = Object.getPrototypeOf;
export const objectKeys = Object.keys;
export const hasOwn = Object.hasOwn;
export const getOwnPropertySymbols = Object.getOwnPropertySymbols;
export const isArray = Array.isArray;
export const isEnumerable = Function.prototype.call.bind(Object.prototype.propertyIsEnumerable) as (
  target: object,
  key: PropertyKey,
) => boolean;
export const mapForEach = Map.prototype.forEach;
export const setForEach = Set.prototype.forEach;
export const dateGetTime = Date.prototype.getTime;
