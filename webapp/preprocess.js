// The MNIST-style preprocessing of gan_ad/images.py (mnist_style, stroke_width, dilate), ported line by line,
// Pillow's Lanczos resize included (its 8-bit fixed-point arithmetic), so that the page sees what Python sees.
"use strict";

const GanAdPreprocess = (() => {
  const f32 = Math.fround;
  const PRECISION_BITS = 32 - 8 - 2;

  class EmptyImageError extends Error {}

  // Python's round(): halves go to the even neighbour
  function roundHalfEven(x) {
    const r = Math.round(x);
    return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }

  function sinc(x) {
    if (x === 0.0) return 1.0;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }
  function lanczos(x) {
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
  }

  // Pillow's precompute_coeffs + normalize_coeffs_8bpc (libImaging/Resample.c), box = (0, inSize)
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize;
    const filterscale = Math.max(scale, 1.0);
    const support = 3.0 * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const kk = new Array(outSize * ksize).fill(0);
    const bounds = new Array(outSize * 2);
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      let ww = 0.0;
      const ss = 1.0 / filterscale;
      let xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      const k = new Array(xmax);
      for (let x = 0; x < xmax; x++) {
        const w = lanczos((x + xmin - center + 0.5) * ss);
        k[x] = w;
        ww += w;
      }
      for (let x = 0; x < xmax; x++) {
        let v = ww !== 0.0 ? k[x] / ww : k[x];
        kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
      }
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    return { ksize, kk, bounds };
  }

  function clip8(ss) {
    if (ss >= 2 ** (PRECISION_BITS + 8)) return 255;
    if (ss <= 0) return 0;
    return Math.floor(ss / 2 ** PRECISION_BITS);
  }

  // Image.resize((outW, outH), Image.LANCZOS) of an 8-bit greyscale image (Uint8Array, row-major)
  function resizeLanczos(pixels, w, h, outW, outH) {
    let data = pixels, width = w;
    if (outW !== w) {
      const { ksize, kk, bounds } = coefficients(w, outW);
      const out = new Uint8Array(outW * h);
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < outW; xx++) {
          const xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += data[y * w + x + xmin] * kk[xx * ksize + x];
          out[y * outW + xx] = clip8(ss);
        }
      }
      data = out;
      width = outW;
    }
    if (outH !== h) {
      const { ksize, kk, bounds } = coefficients(h, outH);
      const out = new Uint8Array(width * outH);
      for (let yy = 0; yy < outH; yy++) {
        const ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        for (let x = 0; x < width; x++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let y = 0; y < ymax; y++) ss += data[(y + ymin) * width + x] * kk[yy * ksize + y];
          out[yy * width + x] = clip8(ss);
        }
      }
      data = out;
    }
    return data;
  }

  function strokeWidth(img, w, h, level = 0.5) {
    const at = (r, c) => (r >= 0 && r < h && c >= 0 && c < w && img[r * w + c] > level);
    let area = 0, edges = 0;
    for (let r = -1; r < h; r++) {
      for (let c = -1; c < w; c++) {
        const here = at(r, c);
        if (here) area++;
        if (here !== at(r + 1, c)) edges++;
        if (here !== at(r, c + 1)) edges++;
      }
    }
    return edges ? 2 * area / edges : 0.0;
  }

  // np.pad(img, 1) then dilate: each pixel the maximum of itself and its 4 neighbours
  function padDilate(img, w, h) {
    const W = w + 2, H = h + 2;
    const padded = (r, c) => (r >= 1 && r <= h && c >= 1 && c <= w) ? img[(r - 1) * w + (c - 1)] : 0;
    const out = new Float32Array(W * H);
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        out[r * W + c] = Math.max(padded(r, c), padded(r - 1, c), padded(r + 1, c), padded(r, c - 1), padded(r, c + 1));
      }
    }
    return { img: out, w: W, h: H };
  }

  function median(values) {
    const s = Float32Array.from(values).sort();
    const n = s.length, m = n >> 1;
    return n % 2 ? s[m] : f32((s[m - 1] + s[m]) / 2);
  }

  // gan_ad.images.mnist_style: a greyscale image (Float32Array h*w in [0, 1]) -> Float32Array(784) in [0, 1]
  function mnistStyle(grey, w, h, constants) {
    const INK = f32(constants.ink);
    let image = Float32Array.from(grey);
    const border = [];
    for (let c = 0; c < w; c++) border.push(image[c]);
    for (let c = 0; c < w; c++) border.push(image[(h - 1) * w + c]);
    for (let r = 0; r < h; r++) border.push(image[r * w]);
    for (let r = 0; r < h; r++) border.push(image[r * w + w - 1]);
    if (median(border) > 0.5) image = image.map((v) => f32(1 - v));
    let r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        if (image[r * w + c] > INK) {
          if (r < r0) r0 = r;
          if (r > r1) r1 = r;
          if (c < c0) c0 = c;
          if (c > c1) c1 = c;
        }
      }
    }
    if (r1 < 0) throw new EmptyImageError("There is no digit to score yet: draw or upload one.");
    const ch = r1 - r0 + 1, cw = c1 - c0 + 1;
    const crop = new Uint8Array(ch * cw);
    for (let r = 0; r < ch; r++) {
      for (let c = 0; c < cw; c++) crop[r * cw + c] = Math.trunc(f32(image[(r + r0) * w + c + c0] * 255));
    }
    const scale = 20 / Math.max(ch, cw);
    const sw = Math.max(1, roundHalfEven(cw * scale)), sh = Math.max(1, roundHalfEven(ch * scale));
    const resized = resizeLanczos(crop, cw, ch, sw, sh);
    let small = { img: Float32Array.from(resized, (v) => Math.min(1, Math.max(0, f32(v / 255)))), w: sw, h: sh };
    if (strokeWidth(small.img, sw, sh) < constants.mnist_stroke_width - constants.stroke_slack) {
      small = padDilate(small.img, sw, sh);
    }
    let mass = 0, my = 0, mx = 0;
    const rowSums = new Float64Array(small.h), colSums = new Float64Array(small.w);
    for (let r = 0; r < small.h; r++) {
      for (let c = 0; c < small.w; c++) {
        const v = small.img[r * small.w + c];
        rowSums[r] += v;
        colSums[c] += v;
        mass += v;
      }
    }
    for (let r = 0; r < small.h; r++) my += rowSums[r] * r;
    for (let c = 0; c < small.w; c++) mx += colSums[c] * c;
    const cy = my / mass, cx = mx / mass;
    const top = Math.min(Math.max(roundHalfEven(13.5 - cy), 0), 28 - small.h);
    const left = Math.min(Math.max(roundHalfEven(13.5 - cx), 0), 28 - small.w);
    const out = new Float32Array(784);
    for (let r = 0; r < small.h; r++) {
      for (let c = 0; c < small.w; c++) out[(r + top) * 28 + c + left] = small.img[r * small.w + c];
    }
    return out;
  }

  // gan_ad.images.to_grey for what a canvas gives (RGBA bytes): Pillow's luma, transparency as paper
  function toGrey(rgba, w, h) {
    const n = w * h, grey = new Float32Array(n);
    let weighted = 0, alphaSum = 0;
    const luma = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2], a = rgba[4 * i + 3];
      luma[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
      weighted += luma[i] * a;
      alphaSum += a;
    }
    const paper = (alphaSum === 0 || weighted / alphaSum < 127.5) ? 255 : 0;
    for (let i = 0; i < n; i++) {
      const a = rgba[4 * i + 3] / 255;
      grey[i] = f32(Math.round(luma[i] * a + paper * (1 - a)) / 255);
    }
    return grey;
  }

  return { mnistStyle, toGrey, strokeWidth, resizeLanczos, EmptyImageError, roundHalfEven };
})();
