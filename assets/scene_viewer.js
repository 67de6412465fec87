// twinplan's scene viewer: reads the binary glTF embedded in the page (GLB, base64) and draws it
// with WebGL: Lambert shading under a head light, see-through surfaces blended after the opaque
// ones, drag to turn, wheel to zoom, labels as text joined to their points by a leader line.
// Offline, no library.
(function () {
  const bytes = Uint8Array.from(atob(document.getElementById('scene').textContent.trim()), c => c.charCodeAt(0));
  const words = new DataView(bytes.buffer);
  const jsonLength = words.getUint32(12, true);
  const gltf = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + jsonLength)));
  const binary = 20 + jsonLength + 8;
  const accessor = (i, Kind) => {
    const a = gltf.accessors[i], v = gltf.bufferViews[a.bufferView];
    return new Kind(bytes.buffer, binary + v.byteOffset, a.count * (a.type === 'VEC3' ? 3 : 1));
  };
  const canvas = document.getElementById('view');
  const gl = canvas.getContext('webgl', { antialias: true, preserveDrawingBuffer: true });
  if (!gl) { document.getElementById('note').textContent = 'This browser has no WebGL.'; return; }
  gl.getExtension('OES_element_index_uint');
  const shader = (type, source) => { const s = gl.createShader(type); gl.shaderSource(s, source); gl.compileShader(s); return s; };
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER,
    'attribute vec3 p; attribute vec3 n; uniform mat4 m; uniform mat3 r; varying vec3 vn;' +
    'void main() { vn = r * n; gl_Position = m * vec4(p, 1.0); }'));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER,
    'precision mediump float; uniform vec4 c; varying vec3 vn;' +
    'void main() { float l = 0.35 + 0.65 * abs(normalize(vn).z); gl_FragColor = vec4(pow(c.rgb * l, vec3(1.0 / 2.2)), c.a); }'));
  gl.linkProgram(program);
  gl.useProgram(program);
  const at = { p: gl.getAttribLocation(program, 'p'), n: gl.getAttribLocation(program, 'n'),
    m: gl.getUniformLocation(program, 'm'), r: gl.getUniformLocation(program, 'r'), c: gl.getUniformLocation(program, 'c') };
  const buffer = (target, data) => { const b = gl.createBuffer(); gl.bindBuffer(target, b); gl.bufferData(target, data, gl.STATIC_DRAW); return b; };
  const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
  const parts = gltf.meshes.map(mesh => {
    const prim = mesh.primitives[0], material = gltf.materials[prim.material];
    const a = gltf.accessors[prim.attributes.POSITION];
    for (let k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], a.min[k]); hi[k] = Math.max(hi[k], a.max[k]); }
    return { name: mesh.name, colour: material.pbrMetallicRoughness.baseColorFactor, blend: material.alphaMode === 'BLEND',
      p: buffer(gl.ARRAY_BUFFER, accessor(prim.attributes.POSITION, Float32Array)),
      n: buffer(gl.ARRAY_BUFFER, accessor(prim.attributes.NORMAL, Float32Array)),
      i: buffer(gl.ELEMENT_ARRAY_BUFFER, accessor(prim.indices, Uint32Array)), count: gltf.accessors[prim.indices].count };
  });
  const centre = [0, 1, 2].map(k => (lo[k] + hi[k]) / 2);
  const size = Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]);
  // The camera turns about the scene's centre: yaw about +Y (up), pitch, distance; from the front.
  const view = { yaw: 0.35, pitch: 0.3, distance: 1.6 * size };
  const leaders = document.getElementById('leaders'), svg = leaders.namespaceURI;
  const labels = gltf.nodes.filter(n => n.extras && n.extras.label).map(n => {
    const div = document.createElement('div');
    div.className = 'label'; div.textContent = n.extras.label; document.body.appendChild(div);
    const line = document.createElementNS(svg, 'line'), dot = document.createElementNS(svg, 'circle');
    dot.setAttribute('r', 3); leaders.appendChild(line); leaders.appendChild(dot);
    return { at: n.translation, div, line, dot };
  });
  const legend = document.getElementById('legend');
  for (const p of parts) {
    const row = document.createElement('div');
    const [r, g, b] = p.colour.map(c => Math.round(255 * Math.pow(c, 1 / 2.2)));
    row.innerHTML = '<span class="swatch" style="background:rgb(' + r + ',' + g + ',' + b + ')"></span>';
    row.appendChild(document.createTextNode(p.name)); legend.appendChild(row);
  }
  const multiply = (a, b) => { const o = new Array(16).fill(0);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) o[j * 4 + i] += a[k * 4 + i] * b[j * 4 + k];
    return o; };
  function draw() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * devicePixelRatio; canvas.height = h * devicePixelRatio;
    gl.viewport(0, 0, canvas.width, canvas.height);
    const cy = Math.cos(view.yaw), sy = Math.sin(view.yaw), cp = Math.cos(view.pitch), sp = Math.sin(view.pitch);
    // Camera axes in the scene: right, up, back (toward the eye).
    const right = [cy, 0, -sy], back = [sy * cp, sp, cy * cp], up = [-sy * sp, cp, -cy * sp];
    const eye = [0, 1, 2].map(k => centre[k] + back[k] * view.distance);
    const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    const viewMatrix = [right[0], up[0], back[0], 0, right[1], up[1], back[1], 0, right[2], up[2], back[2], 0,
      -dot(right, eye), -dot(up, eye), -dot(back, eye), 1];
    const f = 1 / Math.tan(0.35), near = view.distance / 20, far = view.distance * 4;
    const projection = [f * h / w, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / (near - far), -1, 0, 0, 2 * far * near / (near - far), 0];
    const m = multiply(projection, viewMatrix);
    gl.uniformMatrix4fv(at.m, false, m);
    gl.uniformMatrix3fv(at.r, false, [right[0], up[0], back[0], right[1], up[1], back[1], right[2], up[2], back[2]]);
    gl.clearColor(0.12, 0.13, 0.15, 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    for (const blend of [false, true]) {
      gl.depthMask(!blend);
      if (blend) { gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA); } else gl.disable(gl.BLEND);
      for (const p of parts.filter(q => q.blend === blend)) {
        gl.uniform4fv(at.c, p.colour);
        gl.bindBuffer(gl.ARRAY_BUFFER, p.p); gl.enableVertexAttribArray(at.p); gl.vertexAttribPointer(at.p, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ARRAY_BUFFER, p.n); gl.enableVertexAttribArray(at.n); gl.vertexAttribPointer(at.n, 3, gl.FLOAT, false, 0, 0);
        gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, p.i); gl.drawElements(gl.TRIANGLES, p.count, gl.UNSIGNED_INT, 0);
      }
    }
    // Each label sits up and to the right of its point (to the left in the right half), a line
    // from the point to the label's edge.
    for (const l of labels) {
      const q = [0, 1, 2, 3].map(i => m[i] * l.at[0] + m[4 + i] * l.at[1] + m[8 + i] * l.at[2] + m[12 + i]);
      const shown = q[3] > 0, x = (q[0] / q[3] + 1) / 2 * w, y = (1 - q[1] / q[3]) / 2 * h;
      const side = x > w / 2 ? -1 : 1, lx = x + side * 36, ly = y - 30;
      for (const e of [l.div, l.line, l.dot]) e.style.display = shown ? '' : 'none';
      l.div.style.left = lx + 'px'; l.div.style.top = ly + 'px';
      l.div.style.transform = side > 0 ? 'translate(0,-50%)' : 'translate(-100%,-50%)';
      l.line.setAttribute('x1', x); l.line.setAttribute('y1', y); l.line.setAttribute('x2', lx); l.line.setAttribute('y2', ly);
      l.dot.setAttribute('cx', x); l.dot.setAttribute('cy', y);
    }
  }
  let dragging = null;
  canvas.addEventListener('mousedown', e => { dragging = [e.clientX, e.clientY]; });
  addEventListener('mouseup', () => { dragging = null; });
  addEventListener('mousemove', e => {
    if (!dragging) return;
    view.yaw -= (e.clientX - dragging[0]) * 0.01;
    view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + (e.clientY - dragging[1]) * 0.01));
    dragging = [e.clientX, e.clientY]; requestAnimationFrame(draw);
  });
  canvas.addEventListener('wheel', e => { e.preventDefault(); view.distance *= Math.exp(e.deltaY * 0.001); requestAnimationFrame(draw); }, { passive: false });
  addEventListener('resize', () => requestAnimationFrame(draw));
  draw();
  document.title += ' (drawn)';
})();
