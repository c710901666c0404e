;; SIMD kernels for the quadratic baselines (DivPrune, CDPruner). Built into src/core/kernels-wasm.ts by
;; scripts/build-kernels.ts (npm package wabt); see docs/kernels.md for what is exact and what is not.
;; Memory is owned by src/core/kernels.ts, which lays the arrays out and passes byte addresses.
(module
  (memory (export "memory") 1)

  ;; f32 horizontal sum ((l0 + l1) + (l2 + l3)), widened to f64.
  (func $hsum (param $v v128) (result f64)
    (f64.promote_f32
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
        (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v))))))

  ;; best[i] = max(best[i], c) (and best[j] when $both) for a real pair i != j (i, j < n).
  (func $update (param $best i32) (param $n i32) (param $i i32) (param $j i32) (param $c f64) (param $both i32)
    (local $p i32)
    (if (i32.or (i32.or (i32.ge_u (local.get $i) (local.get $n)) (i32.ge_u (local.get $j) (local.get $n)))
                (i32.eq (local.get $i) (local.get $j)))
      (then (return)))
    (local.set $p (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 3))))
    (if (f64.gt (local.get $c) (f64.load (local.get $p))) (then (f64.store (local.get $p) (local.get $c))))
    (if (local.get $both)
      (then
        (local.set $p (i32.add (local.get $best) (i32.shl (local.get $j) (i32.const 3))))
        (if (f64.gt (local.get $c) (f64.load (local.get $p))) (then (f64.store (local.get $p) (local.get $c)))))))

  ;; Approximate nearest cosine of every row: rows are unit-normalised float32 (zero rows stay zero) with a
  ;; stride of $dp floats (a multiple of 4); $np rows (a multiple of 16, pad rows zero); only rows < $n count.
  ;; Pairs are tiled: 16 rows of j stay in L2 while every 4-row block of i up to the tile streams past, and
  ;; each 4×2 register block reads 6 vectors for 8 products.
  (func (export "nearest") (param $feat i32) (param $np i32) (param $dp i32) (param $n i32) (param $best i32)
    (local $j0 i32) (local $i0 i32) (local $j i32) (local $o i32) (local $end i32) (local $stride i32) (local $diag i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $y0 i32) (local $y1 i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $v0 v128) (local $v1 v128) (local $x v128)
    (local.set $stride (i32.shl (local.get $dp) (i32.const 2)))
    (local.set $end (local.get $stride))
    (local.set $j0 (i32.const 0))
    (block $done_j0 (loop $loop_j0
      (br_if $done_j0 (i32.ge_u (local.get $j0) (local.get $np)))
      (local.set $i0 (i32.const 0))
      (block $done_i0 (loop $loop_i0
        (br_if $done_i0 (i32.ge_u (local.get $i0) (i32.add (local.get $j0) (i32.const 16))))
        (br_if $done_i0 (i32.ge_u (local.get $i0) (local.get $n)))
        (local.set $diag (i32.ge_u (local.get $i0) (local.get $j0)))
        (local.set $x0 (i32.add (local.get $feat) (i32.mul (local.get $i0) (local.get $stride))))
        (local.set $x1 (i32.add (local.get $x0) (local.get $stride)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $stride)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $stride)))
        (local.set $j (local.get $j0))
        (block $done_j (loop $loop_j
          (br_if $done_j (i32.ge_u (local.get $j) (i32.add (local.get $j0) (i32.const 16))))
          (br_if $done_j (i32.ge_u (local.get $j) (local.get $n)))
          (local.set $y0 (i32.add (local.get $feat) (i32.mul (local.get $j) (local.get $stride))))
          (local.set $y1 (i32.add (local.get $y0) (local.get $stride)))
          (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
          (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
          (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
          (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
          (local.set $o (i32.const 0))
          (block $done_d (loop $loop_d
            (br_if $done_d (i32.ge_u (local.get $o) (local.get $end)))
            (local.set $v0 (v128.load (i32.add (local.get $y0) (local.get $o))))
            (local.set $v1 (v128.load (i32.add (local.get $y1) (local.get $o))))
            (local.set $x (v128.load (i32.add (local.get $x0) (local.get $o))))
            (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $x) (local.get $v0))))
            (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $x) (local.get $v1))))
            (local.set $x (v128.load (i32.add (local.get $x1) (local.get $o))))
            (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $x) (local.get $v0))))
            (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $x) (local.get $v1))))
            (local.set $x (v128.load (i32.add (local.get $x2) (local.get $o))))
            (local.set $a20 (f32x4.add (local.get $a20) (f32x4.mul (local.get $x) (local.get $v0))))
            (local.set $a21 (f32x4.add (local.get $a21) (f32x4.mul (local.get $x) (local.get $v1))))
            (local.set $x (v128.load (i32.add (local.get $x3) (local.get $o))))
            (local.set $a30 (f32x4.add (local.get $a30) (f32x4.mul (local.get $x) (local.get $v0))))
            (local.set $a31 (f32x4.add (local.get $a31) (f32x4.mul (local.get $x) (local.get $v1))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $loop_d)))
          (call $update (local.get $best) (local.get $n) (local.get $i0) (local.get $j) (call $hsum (local.get $a00)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (local.get $i0) (i32.add (local.get $j) (i32.const 1)) (call $hsum (local.get $a01)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 1)) (local.get $j) (call $hsum (local.get $a10)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 1)) (i32.add (local.get $j) (i32.const 1)) (call $hsum (local.get $a11)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 2)) (local.get $j) (call $hsum (local.get $a20)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 2)) (i32.add (local.get $j) (i32.const 1)) (call $hsum (local.get $a21)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 3)) (local.get $j) (call $hsum (local.get $a30)) (i32.eqz (local.get $diag)))
          (call $update (local.get $best) (local.get $n) (i32.add (local.get $i0) (i32.const 3)) (i32.add (local.get $j) (i32.const 1)) (call $hsum (local.get $a31)) (i32.eqz (local.get $diag)))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (br $loop_j)))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $loop_i0)))
      (local.set $j0 (i32.add (local.get $j0) (i32.const 16)))
      (br $loop_j0))))

  ;; Approximate row: out[j] (f64) = dot of normalised rows $p and j, for j < $n (same layout as "nearest").
  (func (export "row") (param $feat i32) (param $dp i32) (param $n i32) (param $p i32) (param $out i32)
    (local $j i32) (local $o i32) (local $stride i32) (local $x i32) (local $y i32) (local $a v128) (local $b v128)
    (local.set $stride (i32.shl (local.get $dp) (i32.const 2)))
    (local.set $x (i32.add (local.get $feat) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $j (i32.const 0))
    (block $done_j (loop $loop_j
      (br_if $done_j (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $y (i32.add (local.get $feat) (i32.mul (local.get $j) (local.get $stride))))
      (local.set $a (v128.const i32x4 0 0 0 0))
      (local.set $b (v128.const i32x4 0 0 0 0))
      (local.set $o (i32.const 0))
      ;; two independent accumulators over alternating vectors ($dp is a multiple of 4, not of 8)
      (block $done_d (loop $loop_d
        (br_if $done_d (i32.ge_u (local.get $o) (local.get $stride)))
        (local.set $a (f32x4.add (local.get $a) (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $o))) (v128.load (i32.add (local.get $y) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br_if $done_d (i32.ge_u (local.get $o) (local.get $stride)))
        (local.set $b (f32x4.add (local.get $b) (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $o))) (v128.load (i32.add (local.get $y) (local.get $o))))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $loop_d)))
      (f64.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 3))) (call $hsum (f32x4.add (local.get $a) (local.get $b))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $loop_j))))

  ;; Exact dots: out[k] (f64) = rowDot(features, dim, p, list[k]) of src/core/similarity.ts, bit for bit: four
  ;; float64 accumulators over d mod 4 (held as two f64x2), the tail added to the first, then
  ;; (s0 + s1) + (s2 + s3). Products of two float32 values are exact in float64, so only the order of the
  ;; additions matters, and it is the same. Raw float32 rows with stride $dim.
  (func (export "dots") (param $feat i32) (param $dim i32) (param $p i32) (param $list i32) (param $count i32) (param $out i32)
    (local $k i32) (local $a i32) (local $b i32) (local $end4 i32) (local $end i32) (local $stride i32) (local $row i32)
    (local $s01 v128) (local $s23 v128) (local $x v128) (local $y v128) (local $s0 f64)
    (local.set $stride (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $row (i32.add (local.get $feat) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $k (i32.const 0))
    (block $done_k (loop $loop_k
      (br_if $done_k (i32.ge_u (local.get $k) (local.get $count)))
      (local.set $a (local.get $row))
      (local.set $b (i32.add (local.get $feat)
        (i32.mul (i32.load (i32.add (local.get $list) (i32.shl (local.get $k) (i32.const 2)))) (local.get $stride))))
      (local.set $end4 (i32.add (local.get $a) (i32.shl (i32.and (local.get $dim) (i32.const -4)) (i32.const 2))))
      (local.set $end (i32.add (local.get $a) (local.get $stride)))
      (local.set $s01 (v128.const i32x4 0 0 0 0))
      (local.set $s23 (v128.const i32x4 0 0 0 0))
      (block $done_d (loop $loop_d
        (br_if $done_d (i32.ge_u (local.get $a) (local.get $end4)))
        (local.set $x (v128.load (local.get $a)))
        (local.set $y (v128.load (local.get $b)))
        (local.set $s01 (f64x2.add (local.get $s01)
          (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.promote_low_f32x4 (local.get $y)))))
        (local.set $s23 (f64x2.add (local.get $s23)
          (f64x2.mul
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))
            (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $y) (local.get $y))))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $loop_d)))
      (local.set $s0 (f64x2.extract_lane 0 (local.get $s01)))
      (block $done_t (loop $loop_t
        (br_if $done_t (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $s0 (f64.add (local.get $s0)
          (f64.mul (f64.promote_f32 (f32.load (local.get $a))) (f64.promote_f32 (f32.load (local.get $b))))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $loop_t)))
      (f64.store (i32.add (local.get $out) (i32.shl (local.get $k) (i32.const 3)))
        (f64.add
          (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $s01)))
          (f64.add (f64x2.extract_lane 0 (local.get $s23)) (f64x2.extract_lane 1 (local.get $s23)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $loop_k))))
)
