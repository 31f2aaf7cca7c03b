// `deno bench bench/codec_bench.ts`: the cost of encoding one typical run-data snapshot (about ten
// fields and a nested array of twenty small objects). Budget: `jsonCodec.stringify` at most ~2–3×
// plain `JSON.stringify`.

import { jsonCodec, typedJsonCodec } from "../src/recovery/codec.ts";

const data = {
  orderId: "ord_01HZX3K9",
  customerId: "cus_42",
  status: "awaiting_payment",
  attempt: 3,
  total: 129.95,
  currency: "EUR",
  express: true,
  coupon: null,
  address: { street: "1 Main St", city: "Springfield", zip: "12345", country: "US" },
  tags: ["priority", "gift"],
  items: Array.from({ length: 20 }, (_, i) => ({
    sku: `sku-${i}`,
    quantity: (i % 3) + 1,
    price: 9.99 + i,
    gift: i % 4 === 0,
  })),
};

Deno.bench({
  name: "JSON.stringify",
  group: "typical run data",
  baseline: true,
  fn: () => {
    JSON.stringify(data);
  },
});

Deno.bench({
  name: "jsonCodec.stringify",
  group: "typical run data",
  fn: () => {
    jsonCodec.stringify(data, "data");
  },
});

Deno.bench({
  name: "typedJsonCodec.stringify",
  group: "typical run data",
  fn: () => {
    typedJsonCodec.stringify(data, "data");
  },
});

const withDates = {
  ...data,
  createdAt: new Date("2024-05-01T10:00:00.000Z"),
  items: data.items.map((item, i) => ({ ...item, addedAt: new Date(1_714_557_600_000 + i) })),
};

Deno.bench({
  name: "typedJsonCodec.stringify (21 Dates)",
  group: "typical run data",
  fn: () => {
    typedJsonCodec.stringify(withDates, "data");
  },
});

const text = JSON.stringify(data);

Deno.bench({
  name: "JSON.parse",
  group: "parse",
  baseline: true,
  fn: () => {
    JSON.parse(text);
  },
});

Deno.bench({
  name: "jsonCodec.parse",
  group: "parse",
  fn: () => {
    jsonCodec.parse(text);
  },
});

Deno.bench({
  name: "typedJsonCodec.parse",
  group: "parse",
  fn: () => {
    typedJsonCodec.parse(text);
  },
});
