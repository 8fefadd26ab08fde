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

  // The embedded data with each endpoint's list [tag, provider, variants, conds, key, slug, context, params]
  // made an object; `params` (a hex bit mask over data.parameters) becomes a BigInt.
  function decode(data) {
    data.models.forEach(function (model) {
      model.endpoints = model.endpoints.map(function (e) {
        return {
          tag: e[0], provider: e[1], variants: e[2], conds: e[3],
          key: e[4] === null || e[4] === undefined ? model.id + "@" + e[0] : e[4],
          slug: e[5] || null, context: e[6] || 0, params: BigInt("0x" + (e[7] || "0")),
          list: e[4] !== null && e[4] !== undefined && e[4].indexOf("@") < 0
        };
      });
    });
    return data;
  }

  // EndpointFilters.exclusion for the index's filters ({provider, parameter, min_context}; empty = none): the
  // provider matches a slug, name or tag; a model's list price is no endpoint, so any filter leaves it out.
  function passes(endpoint, filters, data) {
    if (!filters) return true;
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

  // The model's endpoints ranked as the engine ranks them: by cost, then tag; ties keep the listed order.
  // `filters` (optional) leaves out the endpoints the index's filters exclude.
  function rank(model, profile, data, filters) {
    var u = usage(profile);
    var rows = [];
    for (var i = 0; i < model.endpoints.length; i++) {
      if (!passes(model.endpoints[i], filters, data)) continue;
      var units = requestCost(model.endpoints[i], u, data);
      if (units !== null) rows.push({ endpoint: model.endpoints[i], units: units, order: i });
    }
    rows.sort(function (a, b) {
      if (a.units !== b.units) return a.units < b.units ? -1 : 1;
      if (a.endpoint.tag !== b.endpoint.tag) return a.endpoint.tag < b.endpoint.tag ? -1 : 1;
      return a.order - b.order;
    });
    return rows;
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

  var api = { decode: decode, units: units, part: part, usage: usage, requestCost: requestCost, rank: rank, decimal: decimal, usd: usd, perMillion: perMillion };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.PriceCost = api;
})(this);
