/*
 * Exact request costs in the browser: the cost engine's formula (catalog/cost/engine.py) on integer units.
 *
 * Prices arrive as integer counts of 10^-scale USD (see catalog/website/pricedata.py); token counts and rates
 * multiply as BigInt, so a cost here equals `catalog cheapest` to the unit. Plain script for the pages, and a
 * CommonJS module for the tests that compare it with the engine.
 */
(function (root) {
  "use strict";

  // round(total × percent / 100), half to even: the engine's share → whole tokens.
  function part(total, percent) {
    var n = BigInt(total) * BigInt(percent);
    var q = n / 100n;
    var r = n % 100n;
    if (r * 2n > 100n || (r * 2n === 100n && q % 2n === 1n)) q += 1n;
    return q;
  }

  // One request of a profile ({input, output, cache_hit, cache_write, reasoning: whole percent}) as usage counts.
  function usage(profile) {
    var input = BigInt(profile.input);
    var output = BigInt(profile.output);
    var cacheRead = part(input, profile.cache_hit || 0);
    var cacheWrite = part(input, profile.cache_write || 0);
    if (cacheWrite > input - cacheRead) cacheWrite = input - cacheRead;
    return {
      prompt: input,
      completion: output,
      cache_read: cacheRead,
      cache_write_5m: cacheWrite,
      cache_write_1h: 0n,
      reasoning: part(output, profile.reasoning || 0),
      requests: 1n,
      images: BigInt(profile.images || 0),
      web_searches: BigInt(profile.web_searches || 0)
    };
  }

  // Which override entries apply: the whole prompt against each minimum, the as-of minute against each window.
  function overrideMask(endpoint, u, atMinute) {
    var mask = 0;
    for (var j = 0; j < endpoint.conds.length; j++) {
      var c = endpoint.conds[j];
      var applies = u.prompt >= BigInt(c[0]);
      if (applies && c[1] !== null && c[2] !== null) {
        applies = c[1] <= c[2] ? atMinute >= c[1] && atMinute < c[2] : atMinute >= c[1] || atMinute < c[2];
      }
      if (applies) mask |= 1 << j;
    }
    return mask;
  }

  // The embedded data with each endpoint's list [tag, provider, variants, conds, key, slug, context, params,
  // max_prompt, max_completion, free] made an object; `params` (a hex bit mask over data.parameters) becomes a
  // BigInt, the limits BigInt or null (not listed). The page lists a model's endpoints in the engine's order
  // among equal costs (uptime, then throughput, then key), so a stable sort by cost ranks as the engine does;
  // `inputs` is the model's input modalities.
  function decode(data) {
    data.models.forEach(function (model) {
      model.inputs = model.inputs || [];
      model.endpoints = model.endpoints.map(function (e) {
        return {
          tag: e[0], provider: e[1], variants: e[2], conds: e[3],
          key: e[4] === null || e[4] === undefined ? model.id + "@" + e[0] : e[4],
          slug: e[5] || null, context: e[6] || 0, params: BigInt("0x" + (e[7] || "0")),
          limits: { context: limit(e[6]), max_prompt: limit(e[8]), max_completion: limit(e[9]) },
          free: e[10] === 1,
          list: e[4] !== null && e[4] !== undefined && e[4].indexOf("@") < 0
        };
      });
    });
    return data;
  }

  // The engine's reason for an endpoint whose price is dynamic for the workload (catalog/cost/engine.py).
  var DYNAMIC = "dynamic price (-1): the router decides it per request; it is not listed";

  function limit(value) {
    return value === null || value === undefined ? null : BigInt(value);
  }

  // 1234567n → "1,234,567" (the engine's f"{n:,}").
  function grouped(n) {
    var digits = BigInt(n).toString(), negative = digits[0] === "-";
    if (negative) digits = digits.slice(1);
    var out = "";
    while (digits.length > 3) {
      out = "," + digits.slice(-3) + out;
      digits = digits.slice(0, -3);
    }
    return (negative ? "-" : "") + digits + out;
  }

  // Why the endpoint cannot take the request, as the engine says it ({requirement, reason}), or null: the
  // prompt within max_prompt, prompt + output within the context, output within max_completion (each when
  // listed), images only to a model that reads them, and the parameters the request uses (data.needs: in
  // order, for each flag in profile.needs — tools, structured_output, reasoning — the parameters any one of which will do).
  function infeasible(endpoint, model, u, profile, data) {
    if (endpoint.list) return null; // a model's list price: no endpoint limits to check (as the engine)
    var l = endpoint.limits;
    if (l.context !== null && u.prompt + u.completion > l.context) {
      return { requirement: "context", reason: "context " + grouped(l.context) + " < " + grouped(u.prompt + u.completion) +
        " (" + grouped(u.prompt) + " prompt + " + grouped(u.completion) + " output)" };
    }
    if (l.max_prompt !== null && u.prompt > l.max_prompt) {
      return { requirement: "max_prompt", reason: "max prompt " + grouped(l.max_prompt) + " < " + grouped(u.prompt) + " prompt tokens" };
    }
    if (l.max_completion !== null && u.completion > l.max_completion) {
      return { requirement: "max_completion", reason: "max completion " + grouped(l.max_completion) + " < " +
        grouped(u.completion) + " output tokens" };
    }
    if (u.images > 0n && model.inputs.indexOf("image") < 0) {
      return { requirement: "image_input", reason: "model takes no image input (input modalities: " + (model.inputs.join(", ") || "unknown") + ")" };
    }
    // A request that sends tools, a response format or a reasoning effort needs one of those parameters.
    var needs = (data && data.needs) || [];
    for (var i = 0; i < needs.length; i++) {
      var code = needs[i][0], wanted = needs[i][1];
      if (!profile || !profile.needs || !profile.needs[code]) continue;
      var listed = wanted.some(function (name) {
        var bit = data.parameters.indexOf(name);
        return bit >= 0 && ((endpoint.params >> BigInt(bit)) & 1n) === 1n;
      });
      if (!listed) return { requirement: code, reason: "does not support " + wanted.join(" or ") };
    }
    return null;
  }

  // EndpointFilters.exclusion for the index's filters ({provider, parameter, min_context}; empty = none): the
  // provider matches a slug, name or tag; a model's list price is no endpoint, so any filter leaves it out.
  // exclude_free leaves out a free price sheet (a list price too), as the engine's --exclude-free does.
  function passes(endpoint, filters, data) {
    if (!filters) return true;
    if (filters.exclude_free && endpoint.free) return false;
    var provider = (filters.provider || "").toLowerCase();
    var active = provider || filters.parameter || filters.min_context;
    if (!active) return true;
    if (endpoint.list) return false;
    if (provider) {
      var names = [endpoint.slug, endpoint.provider, endpoint.tag].map(function (n) { return (n || "").toLowerCase(); });
      if (names.indexOf(provider) < 0) return false;
    }
    if (filters.min_context && endpoint.context < filters.min_context) return false;
    if (filters.parameter) {
      var bit = data.parameters.indexOf(filters.parameter);
      if (bit < 0 || ((endpoint.params >> BigInt(bit)) & 1n) === 0n) return false;
    }
    return true;
  }

  // "77e-8" (USD, exact) as BigInt units of 10^-scale; the page's scale holds every rate exactly.
  function units(text, scale) {
    var parts = String(text).split("e");
    var exponent = scale + (parts.length > 1 ? Number(parts[1]) : 0);
    if (exponent < 0) throw new Error("rate " + text + " needs more than " + scale + " decimals");
    return BigInt(parts[0]) * 10n ** BigInt(exponent);
  }

  // Cost of one request in units of 10^-scale USD, or null when the price is dynamic.
  function requestCost(endpoint, u, data) {
    var rates = endpoint.variants[overrideMask(endpoint, u, data.at_minute)];
    if (rates === null || rates === undefined) return null;
    var r = {};
    for (var i = 0; i < data.rates.length; i++) r[data.rates[i]] = units(rates[i], data.scale);
    return (
      (u.prompt - u.cache_read - u.cache_write_5m - u.cache_write_1h) * r.input +
      u.cache_read * r.cache_read +
      u.cache_write_5m * r.cache_write_5m +
      u.cache_write_1h * r.cache_write_1h +
      (u.completion - u.reasoning) * r.output +
      u.reasoning * r.reasoning +
      u.requests * r.request +
      u.images * r.image +
      u.web_searches * r.web_search
    );
  }

  // The model's endpoints ranked as the engine ranks them (cost, then the listed order), with shared ranks for
  // equal costs (1, 1, 1, 4), and what was left out: {ranked, excluded, ties}. `filters` (optional) applies the
  // index's filters first (an endpoint they leave out is not listed as excluded: the index shows models).
  function ranking(model, profile, data, filters) {
    var u = usage(profile);
    var rows = [], excluded = [];
    for (var i = 0; i < model.endpoints.length; i++) {
      var endpoint = model.endpoints[i];
      if (!passes(endpoint, filters, data)) continue;
      var why = infeasible(endpoint, model, u, profile, data);
      if (why) {
        excluded.push({ endpoint: endpoint, requirement: why.requirement, reason: why.reason });
        continue;
      }
      var cost = requestCost(endpoint, u, data);
      if (cost === null) excluded.push({ endpoint: endpoint, requirement: "price", reason: DYNAMIC });
      else rows.push({ endpoint: endpoint, units: cost, order: i });
    }
    rows.sort(function (a, b) {
      if (a.units !== b.units) return a.units < b.units ? -1 : 1;
      return a.order - b.order;
    });
    var ties = 0;
    rows.forEach(function (row, index) {
      row.rank = index > 0 && rows[index - 1].units === row.units ? rows[index - 1].rank : index + 1;
      if (row.rank === 1) ties += 1;
    });
    return { ranked: rows, excluded: excluded, ties: ties };
  }

  function rank(model, profile, data, filters) {
    return ranking(model, profile, data, filters).ranked;
  }

  // -- exact fractions (BigInt numerator / denominator, denominator > 0, reduced) --------------------------
  function gcd(a, b) {
    if (a < 0n) a = -a;
    if (b < 0n) b = -b;
    while (b) { var t = a % b; a = b; b = t; }
    return a;
  }

  function fraction(n, d) {
    if (d < 0n) { n = -n; d = -d; }
    var g = gcd(n, d) || 1n;
    return { n: n / g, d: d / g };
  }

  function add(x, y) {
    return fraction(x.n * y.d + y.n * x.d, x.d * y.d);
  }

  // n / d rounded half to even, to an integer (Python's round() of a Fraction).
  function halfEven(n, d) {
    var f = fraction(n, d);
    var q = f.n / f.d, r = f.n % f.d;
    if (r < 0n) { q -= 1n; r += f.d; } // floor division, as Python's
    if (r * 2n > f.d || (r * 2n === f.d && q % 2n !== 0n)) q += 1n;
    return q;
  }

  // What default routing would cost: OpenRouter spreads unpinned requests over the endpoints that can serve
  // them with weights 1/c² (c: this request's cost there), so the expected cost is Σ(1/c)/Σ(1/c²), exact,
  // rounded half to even to the page's unit; all weight on the free ones when any costs 0. Also the saving
  // from pinning the cheapest (units, and percent ×100 rounded half-even: 1234n is 12.34 %) and each
  // endpoint's share (×10,000, half-even). Null without a ranked endpoint.
  function defaultRouting(ranked) {
    // Over endpoint prices only: a model's list price is no endpoint a request could be routed to.
    var rows = ranked.filter(function (r) { return !r.endpoint.list; });
    if (!rows.length) return null;
    var free = rows.filter(function (r) { return r.units === 0n; });
    var shares, expected;
    if (free.length) {
      expected = 0n;
      shares = rows.map(function (r) { return r.units === 0n ? halfEven(10000n, BigInt(free.length)) : 0n; });
    } else {
      var inverse = { n: 0n, d: 1n }, square = { n: 0n, d: 1n };
      rows.forEach(function (r) {
        inverse = add(inverse, { n: 1n, d: r.units });
        square = add(square, { n: 1n, d: r.units * r.units });
      });
      expected = halfEven(inverse.n * square.d, inverse.d * square.n);
      shares = rows.map(function (r) { return halfEven(10000n * square.d, r.units * r.units * square.n); });
    }
    var saving = expected - rows[0].units;
    return {
      expected: expected,
      saving: saving,
      percent: expected === 0n ? 0n : halfEven(10000n * saving, expected),
      endpoints: free.length || rows.length,
      shares: shares
    };
  }

  // OpenRouter's `provider` object for a ranking, as the engine builds it with no filters: the cheapest tag
  // first, the next `fallbacks` (default 2) as ordered fallbacks, each tag once (model@tag#2 routes as tag),
  // and require_parameters when the request needs a parameter. Null without a ranked endpoint.
  function routing(ranked, profile, fallbacks) {
    var order = [];
    var limit = 1 + (fallbacks === undefined ? 2 : fallbacks);
    ranked.forEach(function (r) {
      if (!r.endpoint.list && order.indexOf(r.endpoint.tag) < 0 && order.length < limit) order.push(r.endpoint.tag);
    });
    if (!order.length) return null;
    var out = { order: order, allow_fallbacks: false };
    var needs = (profile && profile.needs) || {};
    if (Object.keys(needs).some(function (code) { return needs[code]; })) out.require_parameters = true;
    return out;
  }

  // A percent held ×100 as an integer (1234n) as text: "12.34".
  function hundredths(value) {
    var negative = value < 0n, v = negative ? -value : value;
    var text = (v / 100n).toString() + "." + String(100n + (v % 100n)).slice(1);
    return (negative ? "-" : "") + text;
  }

  // Exact decimal text of units at scale (the engine's canonical spelling: no exponent, no trailing zeros).
  function decimal(units, scale) {
    var negative = units < 0n;
    var digits = (negative ? -units : units).toString();
    if (scale > 0) {
      while (digits.length <= scale) digits = "0" + digits;
      var whole = digits.slice(0, digits.length - scale);
      var frac = digits.slice(digits.length - scale).replace(/0+$/, "");
      digits = frac ? whole + "." + frac : whole;
    }
    return digits === "0" ? "0" : (negative ? "-" : "") + digits;
  }

  // Units rounded half-even to `sig` significant digits (an integer amount is never rounded), as text.
  function rounded(units, scale, sig) {
    if (units === 0n) return "0";
    var digits = units.toString().length;
    var exponent = digits - 1 - scale - (sig - 1); // keep units of 10^exponent
    var keepScale = exponent < 0 ? -exponent : 0;
    var drop = scale - keepScale;
    if (drop <= 0) return decimal(units, scale);
    var unit = 10n ** BigInt(drop);
    var q = units / unit;
    var r = units % unit;
    if (r * 2n > unit || (r * 2n === unit && q % 2n === 1n)) q += 1n;
    return decimal(q, keepScale);
  }

  function usd(units, scale) {
    return "$" + rounded(units, scale, 4);
  }

  // Cost per million tokens of the request (a ratio: rounded to 4 significant digits for display).
  function perMillion(units, profile, scale) {
    var tokens = BigInt(profile.input) + BigInt(profile.output);
    if (tokens === 0n) return null;
    var extra = 12; // digits of the ratio kept before rounding for display
    var q = (units * 1000000n * 10n ** BigInt(extra)) / tokens;
    return "$" + rounded(q, scale + extra, 4);
  }

  var api = {
    decode: decode, units: units, part: part, usage: usage, requestCost: requestCost, infeasible: infeasible,
    ranking: ranking, rank: rank, defaultRouting: defaultRouting, routing: routing, halfEven: halfEven, hundredths: hundredths,
    grouped: grouped, decimal: decimal, usd: usd, perMillion: perMillion
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.PriceCost = api;
})(this);
