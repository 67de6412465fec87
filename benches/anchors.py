#!/usr/bin/env python3
"""The anchors twinplan's benchmarks compare against, run on the same input in the same run.

    anchors.py load FOLDER            SimpleITK ImageSeriesReader (GDCM) on a DICOM series
    anchors.py mesh FOLDER ISO        VTK vtkFlyingEdges3D on the series (loaded with SimpleITK)
    anchors.py skimage FOLDER ISO     scikit-image marching_cubes on the same array
    anchors.py distance PLY POINTS    VTK vtkImplicitPolyDataDistance at points (a JSON list)
    anchors.py pipeline FOLDER ISO OUT  DICOM to binary STL: SimpleITK read, vtkFlyingEdges3D,
                                      vtkSTLWriter, timed in this process (imports excluded)
    anchors.py register FIXED MOVING  SimpleITK ImageRegistrationMethod: Mattes MI, rigid (Euler),
                                      3 levels; also prints fixed_from_moving (LPS, row-major)
    anchors.py elastix FIXED MOVING   itk-elastix with its default rigid parameter map (the same
                                      outputs; "unavailable" when itk-elastix is not installed)

Prints one JSON line: seconds (best of the repeats), peak resident memory of this process and its
resident memory before loading (both in bytes), and the voxel buffer size.
"""
import json
import resource
import sys
import time


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def load(folder, repeats):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(folder)
    before = rss_bytes()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        reader.SetFileNames(files)
        img = reader.Execute()
        best = min(best, time.perf_counter() - t)
        voxels = img.GetNumberOfPixels() * img.GetSizeOfPixelComponent()
        del img
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"anchor": "SimpleITK " + sitk.Version.VersionString(), "seconds": best,
            "peak_rss_bytes": peak, "rss_before_bytes": before, "voxel_bytes": voxels}


def read_array(folder):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    img = reader.Execute()
    return img, sitk.GetArrayViewFromImage(img)


def vtk_image(img, data):
    """A SimpleITK image's voxels (`data`, its z, y, x array made contiguous, kept alive by the
    caller) as VTK image data, shared without a copy."""
    import vtk
    from vtk.util import numpy_support

    vimg = vtk.vtkImageData()
    vimg.SetDimensions(data.shape[2], data.shape[1], data.shape[0])
    vimg.SetSpacing(img.GetSpacing())
    vimg.SetOrigin(img.GetOrigin())
    vimg.GetPointData().SetScalars(numpy_support.numpy_to_vtk(data.ravel(), deep=False))
    return vimg


def flying_edges(vimg, iso):
    """VTK's flying edges at `iso`, triangles only (no normals, gradients or scalars)."""
    import vtk

    fe = vtk.vtkFlyingEdges3D()
    fe.SetInputData(vimg)
    fe.SetValue(0, iso)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    return fe


def vtk_mesh(folder, iso, repeats):
    import numpy as np
    import vtk

    img, arr = read_array(folder)
    data = np.ascontiguousarray(arr)
    vimg = vtk_image(img, data)
    before = rss_bytes()
    best, triangles, points = float("inf"), 0, 0
    for _ in range(repeats):
        fe = flying_edges(vimg, iso)
        t = time.perf_counter()
        fe.Update()
        best = min(best, time.perf_counter() - t)
        out = fe.GetOutput()
        triangles, points = out.GetNumberOfPolys(), out.GetNumberOfPoints()
        del fe, out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    threads = vtk.vtkSMPTools.GetEstimatedNumberOfThreads()
    return {"anchor": f"VTK {vtk.vtkVersion.GetVTKVersion()} vtkFlyingEdges3D ({vtk.vtkSMPTools.GetBackend()}, {threads} threads)",
            "seconds": best, "peak_rss_bytes": peak, "rss_before_bytes": before, "voxel_bytes": data.nbytes,
            "triangles": triangles, "vertices": points}


def skimage_mesh(folder, iso, repeats):
    from skimage import __version__, measure

    img, arr = read_array(folder)
    before = rss_bytes()
    best, triangles, points = float("inf"), 0, 0
    for _ in range(repeats):
        t = time.perf_counter()
        verts, faces, _, _ = measure.marching_cubes(arr, level=iso, spacing=img.GetSpacing()[::-1])
        best = min(best, time.perf_counter() - t)
        triangles, points = len(faces), len(verts)
        del verts, faces
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"anchor": f"scikit-image {__version__} marching_cubes", "seconds": best, "peak_rss_bytes": peak,
            "rss_before_bytes": before, "voxel_bytes": arr.nbytes, "triangles": triangles, "vertices": points}


def pipeline(folder, iso, out, repeats):
    """DICOM series to a binary STL file, as a script would do it with SimpleITK and VTK. Each
    repeat starts from the files; Python's start-up and imports are not counted."""
    import numpy as np
    import SimpleITK as sitk
    import vtk

    best, triangles = float("inf"), 0
    for _ in range(repeats):
        t = time.perf_counter()
        img, arr = read_array(folder)
        data = np.ascontiguousarray(arr)
        vimg = vtk_image(img, data)
        fe = flying_edges(vimg, iso)
        writer = vtk.vtkSTLWriter()
        writer.SetInputConnection(fe.GetOutputPort())
        writer.SetFileTypeToBinary()
        writer.SetFileName(out)
        writer.Write()
        best = min(best, time.perf_counter() - t)
        triangles = fe.GetOutput().GetNumberOfPolys()
        del img, arr, data, vimg, fe, writer
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"anchor": f"SimpleITK {sitk.Version.VersionString()} + VTK {vtk.vtkVersion.GetVTKVersion()} "
            "flying edges + vtkSTLWriter", "seconds": best, "peak_rss_bytes": peak, "rss_before_bytes": 0,
            "voxel_bytes": 1, "triangles": triangles}


def vtk_distance(ply, points_file, repeats):
    import vtk

    reader = vtk.vtkPLYReader()
    reader.SetFileName(ply)
    reader.Update()
    with open(points_file) as f:
        points = [tuple(p) for p in json.load(f)]
    distance = vtk.vtkImplicitPolyDataDistance()
    distance.SetInput(reader.GetOutput())
    best = float("inf")
    for _ in range(repeats):
        evaluate = distance.EvaluateFunction
        t = time.perf_counter()
        for p in points:
            evaluate(p)
        best = min(best, time.perf_counter() - t)
    return {"anchor": f"VTK {vtk.vtkVersion.GetVTKVersion()} vtkImplicitPolyDataDistance", "seconds": best,
            "peak_rss_bytes": 0, "rss_before_bytes": 0, "voxel_bytes": 1}


def register(fixed_file, moving_file, repeats):
    """Rigid registration as SimpleITK's examples set it up: geometric centring, Mattes MI with 32
    bins, linear interpolation, regular-step gradient descent with scales from physical shift,
    shrink factors 4, 2, 1 and smoothing 2, 1, 0 voxels; at each level a random sample of as many
    fixed voxels as twinplan takes (100,000, or all of a smaller level), so both do the same work
    per iteration."""
    import SimpleITK as sitk

    fixed = sitk.ReadImage(fixed_file, sitk.sitkFloat32)
    moving = sitk.ReadImage(moving_file, sitk.sitkFloat32)
    best, found = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        start = sitk.CenteredTransformInitializer(
            fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY)
        r = sitk.ImageRegistrationMethod()
        r.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        r.SetMetricSamplingStrategy(r.RANDOM)
        voxels = fixed.GetNumberOfPixels()
        r.SetMetricSamplingPercentagePerLevel(
            [min(1.0, 100000.0 / (voxels / shrink ** 3)) for shrink in (4, 2, 1)], seed=1)
        r.SetInterpolator(sitk.sitkLinear)
        r.SetOptimizerAsRegularStepGradientDescent(
            learningRate=2.0, minStep=1e-4, numberOfIterations=300, relaxationFactor=0.7)
        r.SetOptimizerScalesFromPhysicalShift()
        r.SetShrinkFactorsPerLevel([4, 2, 1])
        r.SetSmoothingSigmasPerLevel([2, 1, 0])
        r.SetInitialTransform(start, inPlace=False)
        out = r.Execute(fixed, moving)
        seconds = time.perf_counter() - t
        if seconds < best:
            best, found = seconds, out
    # The found transform maps fixed points to moving ones; its matrix from where it sends the
    # origin and the unit points (whatever transform type SimpleITK returns).
    o = found.TransformPoint((0.0, 0.0, 0.0))
    axes = [found.TransformPoint(tuple(1.0 if i == j else 0.0 for i in range(3))) for j in range(3)]
    moving_from_fixed = [[axes[j][i] - o[i] for j in range(3)] + [o[i]] for i in range(3)] + [[0.0, 0.0, 0.0, 1.0]]
    return {"anchor": "SimpleITK " + sitk.Version.VersionString() + " ImageRegistrationMethod", "seconds": best,
            "peak_rss_bytes": 0, "rss_before_bytes": 0, "voxel_bytes": 1,
            "moving_from_fixed": [v for row in moving_from_fixed for v in row],
            "iterations": r.GetOptimizerIteration(), "metric": r.GetMetricValue()}


def elastix(fixed_file, moving_file, repeats):
    """elastix as its users run it: the default rigid parameter map (Euler transform, advanced
    Mattes MI, 4 resolutions of 250 iterations, 2048 random samples per iteration)."""
    try:
        import itk
    except ImportError:
        return {"unavailable": "itk-elastix is not installed"}
    fixed = itk.imread(fixed_file, itk.F)
    moving = itk.imread(moving_file, itk.F)
    parameters = itk.ParameterObject.New()
    parameters.AddParameterMap(parameters.GetDefaultParameterMap("rigid"))
    best, found = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        _, result = itk.elastix_registration_method(fixed, moving, parameter_object=parameters, log_to_console=False)
        seconds = time.perf_counter() - t
        if seconds < best:
            best, found = seconds, result
    # elastix's Euler transform (rotation angles, then translation, about its centre) maps fixed
    # points to moving ones, as ITK's Euler3DTransform does with the same parameters.
    euler = itk.Euler3DTransform[itk.D].New()
    euler.SetCenter([float(c) for c in found.GetParameter(0, "CenterOfRotationPoint")])
    p = itk.OptimizerParameters[itk.D](6)
    for i, v in enumerate(found.GetParameter(0, "TransformParameters")):
        p[i] = float(v)
    euler.SetParameters(p)
    o = euler.TransformPoint([0.0, 0.0, 0.0])
    axes = [euler.TransformPoint([1.0 if i == j else 0.0 for i in range(3)]) for j in range(3)]
    moving_from_fixed = [[axes[j][i] - o[i] for j in range(3)] + [o[i]] for i in range(3)] + [[0.0, 0.0, 0.0, 1.0]]
    # elastix runs every resolution to its iteration count (no convergence test by default).
    iterations = int(parameters.GetParameter(0, "MaximumNumberOfIterations")[0]) * int(
        parameters.GetParameter(0, "NumberOfResolutions")[0])
    return {"anchor": "itk-elastix " + itk.Version.GetITKVersion() + " (ITK), default rigid map", "seconds": best,
            "peak_rss_bytes": 0, "rss_before_bytes": 0, "voxel_bytes": 1,
            "moving_from_fixed": [v for row in moving_from_fixed for v in row], "iterations": iterations}


def objectness(image_file, scales, gamma, out_file, repeats):
    """Frangi vesselness as SimpleITK users build it from ITK's ObjectnessMeasure (a line in 3-D,
    bright, alpha = beta = 0.5, the given gamma, no objectness rescaling): at each scale the
    image smoothed by SmoothingRecursiveGaussian, times sigma² (the scale normalisation), then the
    maximum over the scales. The last result is written to out_file for comparison."""
    import SimpleITK as sitk

    image = sitk.ReadImage(image_file, sitk.sitkFloat32)
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = None
        for s in scales:
            smoothed = sitk.SmoothingRecursiveGaussian(image, s) * (s * s)
            v = sitk.ObjectnessMeasure(smoothed, alpha=0.5, beta=0.5, gamma=gamma, scaleObjectnessMeasure=False,
                                       objectDimension=1, brightObject=True)
            out = v if out is None else sitk.Maximum(out, v)
        best = min(best, time.perf_counter() - t)
        result = out
    sitk.WriteImage(result, out_file)
    return {"anchor": "SimpleITK " + sitk.Version.VersionString() + " ObjectnessMeasure", "seconds": best,
            "peak_rss_bytes": 0, "rss_before_bytes": 0, "voxel_bytes": 1}


def itk_objectness(image_file, scales, gamma, repeats):
    """ITK's own multi-scale filter (MultiScaleHessianBasedMeasureImageFilter with
    HessianToObjectnessMeasureImageFilter, the same measure and scales), where the itk wheel is
    installed."""
    try:
        import itk
    except ImportError:
        return {"unavailable": "itk is not installed"}
    image = itk.imread(image_file, itk.F)
    ImageType = type(image)
    HessianType = itk.Image[itk.SymmetricSecondRankTensor[itk.D, 3], 3]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        measure = itk.HessianToObjectnessMeasureImageFilter[HessianType, ImageType].New()
        measure.SetBrightObject(True)
        measure.SetScaleObjectnessMeasure(False)
        measure.SetObjectDimension(1)
        measure.SetAlpha(0.5)
        measure.SetBeta(0.5)
        measure.SetGamma(gamma)
        multi = itk.MultiScaleHessianBasedMeasureImageFilter[ImageType, HessianType, ImageType].New()
        multi.SetInput(image)
        multi.SetHessianToMeasureFilter(measure)
        multi.SetSigmaStepMethodToEquispaced()
        multi.SetSigmaMinimum(min(scales))
        multi.SetSigmaMaximum(max(scales))
        multi.SetNumberOfSigmaSteps(len(scales))
        multi.Update()
        best = min(best, time.perf_counter() - t)
    return {"anchor": "ITK " + itk.Version.GetITKVersion() + " MultiScaleHessianBasedMeasure", "seconds": best,
            "peak_rss_bytes": 0, "rss_before_bytes": 0, "voxel_bytes": 1}


if __name__ == "__main__":
    what, arg = sys.argv[1], sys.argv[2]
    if what == "distance":
        print(json.dumps(vtk_distance(arg, sys.argv[3], int(sys.argv[4]))))
    elif what == "pipeline":
        print(json.dumps(pipeline(arg, float(sys.argv[3]), sys.argv[4], int(sys.argv[5]))))
    elif what == "register":
        print(json.dumps(register(arg, sys.argv[3], int(sys.argv[4]))))
    elif what == "elastix":
        print(json.dumps(elastix(arg, sys.argv[3], int(sys.argv[4]))))
    elif what == "objectness":
        scales = [float(x) for x in sys.argv[3].split(",")]
        print(json.dumps(objectness(arg, scales, float(sys.argv[4]), sys.argv[5], int(sys.argv[6]))))
    elif what == "itk-objectness":
        scales = [float(x) for x in sys.argv[3].split(",")]
        print(json.dumps(itk_objectness(arg, scales, float(sys.argv[4]), int(sys.argv[5]))))
    elif what == "load":
        repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
        print(json.dumps(load(arg, repeats)))
    else:
        iso, repeats = float(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 3
        print(json.dumps({"mesh": vtk_mesh, "skimage": skimage_mesh}[what](arg, iso, repeats)))
